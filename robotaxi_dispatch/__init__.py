"""Robotaxi rides and their dispatch: the engine core (index, ETA, matcher), rides, fleet, dispatcher."""
