"""zapgate billing: meters usage against plans."""
