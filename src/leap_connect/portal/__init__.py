"""The partner portal: sign-in, Connect links, meters, sessions and developer settings."""
