"""Load tests: locust scenarios, pass/fail thresholds and the runner behind `make load`."""
