"""`leap-connect`: the one command an operator needs, from `db upgrade` to `serve` and `demo`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect import flows as flows_service
from leap_connect.connect.bulk_links import (
    CsvUnreadable,
    ReferenceRow,
    read_reference_rows,
    write_links_csv,
)
from leap_connect.connect.links import (
    LinkError,
    build_link,
    parse_ref_id,
    parse_requested_utilities,
)
from leap_connect.db import create_engine, create_sessionmaker, transaction
from leap_connect.esign import service as terms_service
from leap_connect.esign.documents import (
    DocumentProblem,
    TermsText,
    parse_terms_option,
    read_terms_text,
)
from leap_connect.kit.crypto import Encryptor, generate_encryption_key
from leap_connect.kit.problems import LeapConnectError
from leap_connect.migrations import runner
from leap_connect.organizations import service as organizations
from leap_connect.settings import Settings

T = TypeVar("T")

app = typer.Typer(
    help="Leap Connect: partner-branded utility-data onboarding.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
orgs_app = typer.Typer(help="Organizations (partners).", no_args_is_help=True)
flows_app = typer.Typer(help="Connect flows.", no_args_is_help=True)
users_app = typer.Typer(help="Portal users.", no_args_is_help=True)
api_keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
links_app = typer.Typer(help="Connect links.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(flows_app, name="flows")
app.add_typer(users_app, name="users")
app.add_typer(api_keys_app, name="api-keys")
app.add_typer(links_app, name="links")
app.add_typer(keys_app, name="keys")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
TermsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--terms",
        help="A document to sign, as customer-type=path.md (repeat for more, in order)",
    ),
]


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        raise fail(str(first.get("ctx", {}).get("error") or first["msg"])) from None


def with_session(
    function: Callable[..., Awaitable[T]],
) -> Callable[..., T]:
    """Run an async command body in one committed transaction; expected errors become one line."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        settings = load_settings()

        async def run() -> T:
            engine = create_engine(settings.resolved_database_url)
            try:
                async with transaction(create_sessionmaker(engine)) as session:
                    return await function(session, settings, *args, **kwargs)
            finally:
                await engine.dispose()

        try:
            return asyncio.run(run())
        except LeapConnectError as error:
            raise fail(error.detail) from None

    return wrapper


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def split_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    typer.echo(json.dumps(data, default=str) if as_json else text)


# --- db -------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    settings = load_settings()
    runner.upgrade(settings.resolved_database_url)
    typer.echo("database is up to date")


@db_app.command("heads")
def db_heads() -> None:
    """Print the migration heads, one per line; more than one means the chain forked: merge them."""
    for head in runner.heads():
        typer.echo(head)


# --- orgs -----------------------------------------------------------------------------------------


@orgs_app.command("create")
def orgs_create(
    org_name: Annotated[str, typer.Argument(help="URL name, e.g. acme")],
    display_name: Annotated[str, typer.Option("--display-name", help="Name customers see")],
    logo_url: Annotated[str | None, typer.Option("--logo-url")] = None,
    brand_color: Annotated[str | None, typer.Option("--brand-color", help="e.g. #1f6feb")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an organization (a partner)."""

    @with_session
    async def create(session: AsyncSession, settings: Settings) -> None:
        encryptor = Encryptor(settings.encryption_keys.get_secret_value())
        organization, secret = await organizations.create_organization(
            session,
            encryptor,
            name=org_name,
            display_name=display_name,
            logo_url=logo_url,
            brand_color=brand_color,
        )
        emit(
            as_json,
            {
                "organization_id": str(organization.id),
                "name": organization.name,
                "display_name": organization.display_name,
                "redirect_signing_secret": secret,
            },
            f"created organization {organization.name}\n"
            f"redirect signing secret (verify thank-you redirects with it): {secret}",
        )

    create()


# --- flows ----------------------------------------------------------------------------------------


@flows_app.command("create")
def flows_create(
    org_name: str,
    url_friendly_title: str,
    region: Annotated[str, typer.Option("--region", help="CAISO or NYISO")],
    utilities: Annotated[str, typer.Option("--utilities", help="Comma-separated utility IDs")],
    customer_types: Annotated[
        str, typer.Option("--customer-types", help="residential, commercial or both")
    ],
    thank_you_url: Annotated[str, typer.Option("--thank-you-url")],
    title: Annotated[str | None, typer.Option("--title")] = None,
    terms: TermsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a connect flow for an organization."""
    documents = _read_terms(terms or [])

    @with_session
    async def create(session: AsyncSession, settings: Settings) -> None:
        organization = await organizations.require_organization(session, org_name)
        flow = await flows_service.create_flow(
            session,
            organization=organization,
            url_friendly_title=url_friendly_title,
            region=region,
            utility_ids=split_list(utilities),
            customer_types=split_list(customer_types),
            thank_you_url=thank_you_url,
            title=title,
            development=settings.is_development,
        )
        changes = await terms_service.set_terms(session, flow=flow, documents=documents)
        link = build_link(settings.base_url, organization.name, flow.url_friendly_title)
        emit(
            as_json,
            {
                "flow_id": str(flow.id),
                "url_friendly_title": flow.url_friendly_title,
                "region": flow.transmission_region,
                "utilities": flow.utility_ids,
                "customer_types": flow.customer_types,
                "url": link,
                **({"terms": [_change_json(change) for change in changes]} if documents else {}),
            },
            "\n".join(
                [f"created flow {flow.url_friendly_title}: {link}"]
                + [_change_text(change) for change in changes]
            ),
        )

    create()


@flows_app.command("set-terms")
def flows_set_terms(
    org_name: str,
    url_friendly_title: str,
    terms: TermsOption = None,
    clear: Annotated[
        list[str] | None,
        typer.Option("--clear", help="A customer type that signs no terms any more (repeatable)"),
    ] = None,
    before_authorization: Annotated[
        bool | None,
        typer.Option(
            "--before-authorization/--after-authorization",
            help="Sign the terms before connecting a utility, or after (the default)",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Set the documents a flow's customers sign, per customer type.

    The documents given for a customer type replace its current ones. A changed text becomes a
    new version (agreements keep the version they signed); the same text changes nothing.
    """
    documents = _read_terms(terms or [])
    if not documents and not clear and before_authorization is None:
        raise fail("give --terms TYPE=PATH, --clear TYPE or --before-authorization")

    @with_session
    async def update(session: AsyncSession, settings: Settings) -> None:
        organization = await organizations.require_organization(session, org_name)
        flow = await flows_service.require_flow(session, organization, url_friendly_title)
        changes = await terms_service.set_terms(
            session,
            flow=flow,
            documents=documents,
            clear=[customer_type.strip().lower() for customer_type in clear or []],
            before_authorization=before_authorization,
        )
        order = "before" if flow.terms_before_authorization else "after"
        emit(
            as_json,
            {
                "url_friendly_title": flow.url_friendly_title,
                "terms_before_authorization": flow.terms_before_authorization,
                "terms": [_change_json(change) for change in changes],
            },
            "\n".join(
                [_change_text(change) for change in changes]
                + [f"customers sign the terms {order} connecting their utility"]
            ),
        )

    update()


def _read_terms(values: list[str]) -> list[TermsText]:
    documents = []
    for value in values:
        try:
            customer_type, path = parse_terms_option(
                value, customer_types=flows_service.CUSTOMER_TYPES
            )
            raw = Path(path).read_bytes()
            documents.append(read_terms_text(customer_type, path, raw))
        except DocumentProblem as problem:
            raise fail(str(problem)) from None
        except OSError as error:
            raise fail(f"cannot read {value.partition('=')[2]}: {error.strerror}") from None
    return documents


def _change_json(change: terms_service.DocumentChange) -> dict[str, Any]:
    return {
        "customer_type": change.customer_type,
        "slug": change.slug,
        "title": change.title,
        "version": change.version,
        "sha256": change.sha256,
        "change": change.change,
    }


def _change_text(change: terms_service.DocumentChange) -> str:
    return (
        f"{change.customer_type} terms: {change.title} ({change.slug}) version {change.version}, "
        f"{change.change}, sha256 {change.sha256}"
    )


# --- users and API keys ---------------------------------------------------------------------------


@users_app.command("create")
def users_create(
    org_name: str,
    email: str,
    role: Annotated[str, typer.Option("--role", help="admin or member")] = "admin",
    password: Annotated[
        str | None,
        typer.Option(
            "--password", envvar="LEAP_CONNECT_NEW_USER_PASSWORD", help="Prompted if absent"
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a portal user."""
    if password is None:
        if not sys.stdin.isatty():
            raise fail("give --password (or LEAP_CONNECT_NEW_USER_PASSWORD) when not on a terminal")
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    @with_session
    async def create(session: AsyncSession, settings: Settings) -> None:
        organization = await organizations.require_organization(session, org_name)
        user = await organizations.create_user(
            session, organization=organization, email=email, password=password or "", role=role
        )
        emit(
            as_json,
            {"user_id": str(user.id), "email": user.email, "role": user.role},
            f"created {user.role} {user.email}",
        )

    create()


@api_keys_app.command("create")
def api_keys_create(
    org_name: str,
    scopes: Annotated[str, typer.Option("--scopes", help="Comma-separated, e.g. meters:read")],
    name: Annotated[str, typer.Option("--name")] = "API key",
    as_json: JsonOption = False,
) -> None:
    """Create an API key; it is printed once and only its HMAC is stored."""

    @with_session
    async def create(session: AsyncSession, settings: Settings) -> None:
        organization = await organizations.require_organization(session, org_name)
        issued = await organizations.create_api_key(
            session,
            settings.secret_key.get_secret_value(),
            organization=organization,
            scopes=split_list(scopes),
            name=name,
        )
        emit(
            as_json,
            {
                "api_key_id": str(issued.api_key.id),
                "api_key": issued.token,
                "scopes": issued.api_key.scopes,
            },
            f"API key (shown once, store it now): {issued.token}",
        )

    create()


# --- links ----------------------------------------------------------------------------------------


@links_app.command("create")
def links_create(
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

    @with_session
    async def create(session: AsyncSession, settings: Settings) -> None:
        organization = await organizations.require_organization(session, org_name)
        flow = await flows_service.require_flow(session, organization, url_friendly_title)
        try:
            requested = parse_requested_utilities([utilities or ""], offered=flow.utility_ids)
        except LinkError as error:
            raise fail(error.message) from None
        requested_in_link = requested if utilities else ()

        def link_for(reference: str | None) -> str:
            return build_link(
                settings.base_url,
                organization.name,
                flow.url_friendly_title,
                requested_utilities=requested_in_link,
                ref_id=reference,
            )

        if csv_in is None:
            try:
                reference = parse_ref_id(ref_id)
            except LinkError as error:
                raise fail(error.message) from None
            url = link_for(reference)
            emit(as_json, {"url": url, "ref_id": reference}, url)
            return
        _write_bulk_links(csv_in, output, link_for, as_json=as_json)

    create()


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
    if as_json:
        typer.echo(json.dumps(summary), err=output is None)
    else:
        typer.echo(f"{written} links written, {len(rejected)} rows skipped", err=True)


# --- keys -----------------------------------------------------------------------------------------


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new encryption key for LEAP_CONNECT_ENCRYPTION_KEYS (put it first to rotate)."""
    typer.echo(generate_encryption_key())


# --- processes ------------------------------------------------------------------------------------


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    workers: Annotated[int, typer.Option("--workers")] = 1,
) -> None:
    """Serve the journey, the API and the portal with uvicorn."""
    import uvicorn

    load_settings()
    uvicorn.run(
        "leap_connect.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        access_log=False,
    )


@app.command("worker")
def worker(
    once: Annotated[bool, typer.Option("--once", help="Run the jobs due now, then exit")] = False,
    lease_seconds: Annotated[
        float,
        typer.Option("--lease-seconds", help="How long a job is held before others may take it"),
    ] = 60.0,
    poll_seconds: Annotated[
        float, typer.Option("--poll-seconds", help="How often to look for due jobs when idle")
    ] = 1.0,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Jobs run at once")] = 10,
) -> None:
    """Run background jobs until SIGTERM or Ctrl-C (a second one abandons running jobs).

    Handlers register from every `leap_connect.<feature>.tasks` module, plus the modules named,
    comma-separated, in LEAP_CONNECT_JOB_MODULES.
    """
    if lease_seconds <= 0 or poll_seconds <= 0 or concurrency < 1:
        raise fail("--lease-seconds and --poll-seconds must be positive, --concurrency at least 1")
    from datetime import timedelta

    from leap_connect.jobs.worker import run_worker

    settings = load_settings()
    run_async(
        run_worker(
            settings,
            once=once,
            lease=timedelta(seconds=lease_seconds),
            poll_interval=poll_seconds,
            batch_size=concurrency,
        )
    )


def main() -> None:
    app()


@app.command("demo")
def demo(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """Run everything with no configuration: SQLite, the sandbox utilities and a demo partner."""
    from leap_connect.demo.run import run_demo

    settings = load_settings()
    base_url = (
        settings.base_url if "LEAP_CONNECT_BASE_URL" in os.environ else f"http://{host}:{port}"
    )
    settings = settings.model_copy(update={"sandbox": True, "demo": True, "base_url": base_url})
    run_async(run_demo(settings, host=host, port=port))


@app.command("sandbox")
def sandbox(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 9100,
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            "--redirect-uri", help="Allowed redirect URI (repeat); default: a local serve"
        ),
    ] = None,
    client_id: Annotated[str | None, typer.Option("--client-id")] = None,
    client_secret: Annotated[str | None, typer.Option("--client-secret")] = None,
    public_base_url: Annotated[str | None, typer.Option("--public-base-url")] = None,
    ssl_certfile: Annotated[Path | None, typer.Option("--ssl-certfile", help="Serve https")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option("--ssl-keyfile")] = None,
    ssl_client_ca: Annotated[
        Path | None,
        typer.Option("--ssl-client-ca", help="Require client certificates from this CA"),
    ] = None,
) -> None:
    """Run the sandbox Green Button data custodians alone (at /sandbox/pge, /sandbox/sce, ...)."""
    from leap_connect.sandbox.green_button import (
        SANDBOX_CLIENT_ID,
        SANDBOX_CLIENT_SECRET,
        RegisteredClient,
        run_standalone,
    )

    uris = tuple(redirect_uri or ())
    if not uris:
        uris = tuple(
            f"http://127.0.0.1:8000/connect/callback/{utility_id}"
            for utility_id in ("pge", "sce", "sdge")
        )
    scheme = "https" if ssl_certfile else "http"
    run_standalone(
        host,
        port,
        (public_base_url or f"{scheme}://{host}:{port}").rstrip("/"),
        [
            RegisteredClient(
                client_id=client_id or SANDBOX_CLIENT_ID,
                client_secret=client_secret or SANDBOX_CLIENT_SECRET,
                redirect_uris=uris,
            )
        ],
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        ssl_client_ca=str(ssl_client_ca) if ssl_client_ca else None,
    )
