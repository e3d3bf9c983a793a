"""`leap-connect flows`: create a connect flow and set the terms its customers sign."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.cli.common import JsonOption, emit, fail, run_in_transaction, split_list
from leap_connect.connect import flows as flows_service
from leap_connect.connect.links import build_link
from leap_connect.esign import service as terms_service
from leap_connect.esign.documents import (
    DocumentProblem,
    TermsText,
    parse_terms_option,
    read_terms_text,
)
from leap_connect.organizations import service as organizations
from leap_connect.settings import Settings

app = typer.Typer(help="Connect flows.", no_args_is_help=True)

TermsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--terms",
        help="A document to sign, as customer-type=path.md (repeat for more, in order)",
    ),
]


@app.command("create")
def create(
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
    authorization_months: Annotated[
        int,
        typer.Option(
            "--authorization-months",
            help="How long customers' permission should last (PG&E's PreferredAuthEndDate)",
        ),
    ] = 12,
    as_json: JsonOption = False,
) -> None:
    """Create a connect flow for an organization."""
    documents = _read_terms(terms or [])

    async def body(session: AsyncSession, settings: Settings) -> None:
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
            authorization_months=authorization_months,
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

    run_in_transaction(body)


@app.command("set-terms")
def set_terms(
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

    async def body(session: AsyncSession, settings: Settings) -> None:
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

    run_in_transaction(body)


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
