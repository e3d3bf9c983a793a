"""Partners: organizations, their portal users and their API keys."""
