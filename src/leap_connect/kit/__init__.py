"""Small helpers shared by every domain: crypto, problem responses, pagination, safe URLs."""
