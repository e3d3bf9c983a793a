"""`leap-connect db`: apply the migrations and show their heads."""

from __future__ import annotations

import typer

from leap_connect.cli.common import load_settings
from leap_connect.migrations import runner

app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply every migration to the configured database."""
    settings = load_settings()
    runner.upgrade(settings.resolved_database_url)
    typer.echo("database is up to date")


@app.command("heads")
def heads() -> None:
    """Print the migration heads, one per line; more than one means the chain forked: merge them."""
    for head in runner.heads():
        typer.echo(head)
