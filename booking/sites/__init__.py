"""Sites (stations, dealers, venues...) and the resources they offer."""
