"""Session-worker adapters: NATS KV leases, membership, consumers."""
