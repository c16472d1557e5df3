"""Fixtures that build small real training runs (filled in by the runs work)."""
