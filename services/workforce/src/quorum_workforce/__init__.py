"""Quorum workforce service."""
