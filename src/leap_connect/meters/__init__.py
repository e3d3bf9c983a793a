"""Meters: what an authorization found, matched to the partner's customers by reference."""
