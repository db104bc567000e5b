"""Pure gateway logic: no I/O."""
