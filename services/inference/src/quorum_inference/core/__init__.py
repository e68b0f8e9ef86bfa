"""Pure core of the inference service (no I/O)."""
