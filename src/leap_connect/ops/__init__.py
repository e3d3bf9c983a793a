"""What an operator's tooling reads: health, readiness and metrics."""
