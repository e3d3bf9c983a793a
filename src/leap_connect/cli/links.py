"""`leap-connect links`: print a Connect link, or write one per Reference ID from a CSV."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.cli.common import JsonOption, emit, fail, run_in_transaction
from leap_connect.connect import flows as flows_service
from leap_connect.connect.bulk_links import (
    CsvUnreadable,
    ReferenceRow,
    read_reference_rows,
    write_links_csv,
)
from leap_connect.connect.links import build_link, utilities_named_in_link
from leap_connect.kit.link_rules import LinkError, parse_ref_id
from leap_connect.organizations import service as organizations
from leap_connect.settings import Settings

app = typer.Typer(help="Connect links.", no_args_is_help=True)


@app.command("create")
def create(
    org_name: str,
    url_friendly_title: str,
    utilities: Annotated[str | None, typer.Option("--utilities")] = None,
    ref_id: Annotated[str | None, typer.Option("--ref-id")] = None,
    csv_in: Annotated[
        Path | None, typer.Option("--csv", help="CSV of Reference IDs (first column)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write the CSV of links")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print a Connect link, or with --csv write one link per Reference ID."""
    if csv_in is not None and ref_id is not None:
        raise fail("give either --ref-id or --csv, not both")

    async def body(session: AsyncSession, settings: Settings) -> None:
        organization = await organizations.require_organization(session, org_name)
        flow = await flows_service.require_flow(session, organization, url_friendly_title)
        try:
            requested_in_link = utilities_named_in_link([utilities or ""], offered=flow.utility_ids)
            ref_id_in_link = parse_ref_id(ref_id)
        except LinkError as error:
            raise fail(error.message) from None

        def link_for(reference: str | None) -> str:
            return build_link(
                settings.base_url,
                organization.name,
                flow.url_friendly_title,
                requested_utilities=requested_in_link,
                ref_id=reference,
            )

        if csv_in is None:
            url = link_for(ref_id_in_link)
            emit(as_json, {"url": url, "ref_id": ref_id_in_link}, url)
            return
        _write_bulk_links(csv_in, output, link_for, as_json=as_json)

    run_in_transaction(body)


def _read_reference_rows(csv_in: Path) -> list[ReferenceRow]:
    try:
        # utf-8-sig: spreadsheets start the UTF-8 CSV files they export with a byte-order mark.
        with csv_in.open(newline="", encoding="utf-8-sig") as file:
            return read_reference_rows(file)
    except (OSError, UnicodeDecodeError, CsvUnreadable) as error:
        raise fail(f"cannot read {csv_in}: {error}") from None


def _write_bulk_links(
    csv_in: Path, output: Path | None, link_for: Callable[[str | None], str], *, as_json: bool
) -> None:
    rows = _read_reference_rows(csv_in)
    rejected = [{"line": row.line, "error": row.error} for row in rows if row.error]
    destination = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        with typer.progressbar(rows, length=len(rows), label="links", file=sys.stderr) as progress:
            good = (row.ref_id for row in progress if row.ref_id is not None)
            written = write_links_csv(destination, good, link_for)
    finally:
        if output:
            destination.close()
    for item in rejected:
        typer.echo(f"line {item['line']}: skipped: {item['error']}", err=True)
    summary = {"written": written, "skipped": rejected, "output": str(output) if output else None}
    # Not `emit`: when the links go to stdout the summary must not mix with them, so it goes to
    # stderr, and the text summary is a note for the person at the terminal, always on stderr.
    if as_json:
        typer.echo(json.dumps(summary), err=output is None)
    else:
        typer.echo(f"{written} links written, {len(rejected)} rows skipped", err=True)
