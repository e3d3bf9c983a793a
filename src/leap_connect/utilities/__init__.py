"""Utilities: the registry of supported utilities and one connector per protocol."""
