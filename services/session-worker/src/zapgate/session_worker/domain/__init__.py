"""Pure session-worker logic: no I/O."""
