"""`leap-connect keys`: make a new encryption key for LEAP_CONNECT_ENCRYPTION_KEYS."""

from __future__ import annotations

import typer

from leap_connect.kit.crypto import generate_encryption_key

app = typer.Typer(help="Encryption keys.", no_args_is_help=True)


@app.command("generate")
def generate() -> None:
    """Print a new encryption key for LEAP_CONNECT_ENCRYPTION_KEYS (put it first to rotate)."""
    typer.echo(generate_encryption_key())
