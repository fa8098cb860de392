"""Sites, bookable resources, slot bookings, events and tickets."""
