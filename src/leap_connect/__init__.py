"""Leap Connect: partner-branded onboarding for sharing utility meter data."""

__version__ = "0.1.0"
