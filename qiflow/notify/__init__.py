"""Telling people: reminders, event notices, the outbox, delivery, channels and civil time
(see docs/architecture.md)."""
