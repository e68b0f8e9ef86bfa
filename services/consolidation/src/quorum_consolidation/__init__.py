"""Consolidation service: turns redundant worker answers into one label with a confidence."""

from pathlib import Path

SCHEMA = "consolidation"
MIGRATIONS = Path(__file__).parent / "migrations"
