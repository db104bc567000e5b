"""WhatsApp engines: one interface, several implementations."""
