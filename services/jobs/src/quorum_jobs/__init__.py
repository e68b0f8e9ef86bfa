"""Jobs service: requesters, labeling jobs and their objects, labels and the Ground Truth output manifest."""

from pathlib import Path

SCHEMA = "jobs"
MIGRATIONS = Path(__file__).parent / "migrations"
