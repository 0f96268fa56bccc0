"""End-to-end tests: the real daemon process against the simulator and a webhook sink."""
