"""Shared contracts of zapgate: schemas, subjects, settings, NATS and database bootstrap."""
