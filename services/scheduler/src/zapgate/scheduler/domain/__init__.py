"""domain of the scheduler."""
