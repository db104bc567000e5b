"""adapters of billing."""
