"""Outgoing webhooks: the event outbox, partner endpoints and signed deliveries."""
