"""zapgate scheduler: sends scheduled and recurring messages."""
