"""Events and ticketing: organisers sell, citizens buy, gates check in."""
