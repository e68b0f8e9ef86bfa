"""Quorum jobs service."""
