"""Which compute device a backend uses; pure so it is trivially testable."""

from __future__ import annotations


def describe_device(cuda_available: bool, backend: str) -> str:
    if backend == "triton":
        return "remote"
    return "cuda" if cuda_available else "cpu"
