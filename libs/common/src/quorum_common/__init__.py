"""Shared plumbing for every Quorum service: settings, logs, errors, gRPC lifecycle, DB, events."""
