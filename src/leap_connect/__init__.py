"""Leap Connect: partner-branded onboarding that gets customers to share their utility meter data."""

__version__ = "0.1.0"
