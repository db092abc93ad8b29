"""Helpers that scripts/install and scripts/lock run (importable for their unit tests)."""
