"""Pure core of the jobs service (no I/O): manifests, job specs, job states, output lines."""
