"""Gateway adapters: PostgreSQL and NATS."""
