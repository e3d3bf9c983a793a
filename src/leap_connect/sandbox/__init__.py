"""Built-in emulators of the utilities' data-sharing protocols, so every journey runs offline."""
