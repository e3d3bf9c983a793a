"""`leap-connect`: the one command an operator needs, from `db upgrade` to `serve` and `demo`."""

from __future__ import annotations

import typer

from leap_connect.cli import api_keys, db, flows, keys, links, orgs, processes, users

app = typer.Typer(
    help="Leap Connect: partner-branded utility-data onboarding.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("serve")(processes.serve)
app.command("worker")(processes.worker)
app.command("demo")(processes.demo)
app.command("sandbox")(processes.sandbox)
app.add_typer(db.app, name="db")
app.add_typer(orgs.app, name="orgs")
app.add_typer(flows.app, name="flows")
app.add_typer(users.app, name="users")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(links.app, name="links")
app.add_typer(keys.app, name="keys")


def main() -> None:
    app()
