"""Chargers on the line: the OCPP charging-station management service (CSMS) behind charging bookings."""
