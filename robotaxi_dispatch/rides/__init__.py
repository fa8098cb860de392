"""Robotaxi rides: vehicles, rides and their events, fares, the ride state machine, services."""
