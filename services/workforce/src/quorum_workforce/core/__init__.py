"""Pure core of the workforce service (no I/O): tokens, answer and job validation, dispatch rules."""
