"""adapters of the scheduler."""
