"""Quorum gateway: REST API for requesters and workers."""
