"""Quorum consolidation service."""
