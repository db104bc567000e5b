"""HTTP controllers: decode, call, respond."""
