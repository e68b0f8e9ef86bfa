"""Quorum command line."""
