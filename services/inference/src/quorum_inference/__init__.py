"""Inference service: trains, predicts and calibrates models for automated labeling (skeleton so far)."""

from pathlib import Path

SCHEMA = "inference"
MIGRATIONS = Path(__file__).parent / "migrations"
