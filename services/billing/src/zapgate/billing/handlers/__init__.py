"""handlers of billing."""
