"""Signed notifications to the operator's own systems: queued with each payment change, delivered at least once."""
