"""Workforce service: teams, workers, task dispatch with leases, and the raw answers workers submit."""

from pathlib import Path

SCHEMA = "workforce"
MIGRATIONS = Path(__file__).parent / "migrations"
