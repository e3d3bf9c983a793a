"""Background jobs as database rows, enqueued by services and run by workers with a lease."""
