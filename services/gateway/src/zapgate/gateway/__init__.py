"""zapgate gateway: the REST and WebSocket API in front of the NATS backbone."""
