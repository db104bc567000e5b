"""handlers of the scheduler."""
