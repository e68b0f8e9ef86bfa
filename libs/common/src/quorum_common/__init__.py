"""Shared plumbing for every Quorum service: settings, logs, errors, gRPC lifecycle, DB, events."""

import os

# Quorum's processes fork only to exec at once (subprocess; pytriton starting tritonserver through `sh`).
# grpcio 1.8x runs its fork handlers around every fork, and a child forked while other threads are inside gRPC
# can die in them before it execs: an embedded Triton then fails to start (7 of 17 test runs that started one
# after the inference unit tests). Fork-without-exec is what those handlers are for, and nothing here does it.
# grpc reads the variable when it is imported, and every service imports this package first; an operator's own
# value wins.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
