"""Fixtures for the local Hub server (filled in by the server work)."""
