"""Load tests: speculative vs plain serving under load (Locust), with a report people want to read."""
