"""The zero-configuration demo: a sample partner, its flows and a thank-you page."""
