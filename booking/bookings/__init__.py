"""Slot bookings of resources: holds, payment, check-in, completion, outages and availability."""
