"""Fault injection against the real daemon process: API, delivery, crashes, state, secrets."""
