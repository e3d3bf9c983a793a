"""The portal's web pages: sign-in, and one module per tab, with what they share in `layout.py`."""
