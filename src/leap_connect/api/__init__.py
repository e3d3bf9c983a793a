"""The partner API (`/v2`): authentication by API key, and the routers of every domain."""
