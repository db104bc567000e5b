"""zapgate's operator CLI (``zapgate``): a client of the REST API and WebSocket only."""
