"""zapgate session-worker: runs WhatsApp sessions of the partitions it leases."""
