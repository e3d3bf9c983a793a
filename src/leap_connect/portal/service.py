"""The portal's Connect tab: flows with their opens, single links with QR codes, and bulk links.

Links are checked by the same rules as the landing page (`connect/links.py`), so a link the portal
makes is one the landing page accepts, and a refusal reads the same in both places.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import segno
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.connect import repository as connect_repository
from leap_connect.connect.bulk_links import (
    CsvUnreadable,
    ReferenceRow,
    read_reference_rows,
    write_links_csv,
)
from leap_connect.connect.links import build_link, utilities_named_in_link
from leap_connect.kit.link_rules import LinkError, parse_ref_id
from leap_connect.kit.problems import NotFound, ValidationFailed
from leap_connect.models import ConnectFlow, Organization, utc_now
from leap_connect.portal import repository
from leap_connect.utilities.registry import UTILITIES_BY_ID, Utility

LINK_OPENS_DAYS = 30
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_ROWS = 10_000
QR_TITLE = "QR code of the Connect link"


class LinkInvalid(Exception):
    """The builder's fields break a link rule; `errors` maps each field to the landing's message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class UploadUnreadable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FlowOverview:
    flow: ConnectFlow
    utilities: tuple[Utility, ...]
    link_base: str
    links_opened: int


@dataclass(frozen=True)
class LinkSpec:
    """A flow and the utilities a link asks for (empty: every utility the flow offers)."""

    flow: ConnectFlow
    requested_utilities: tuple[str, ...]


@dataclass(frozen=True)
class BuiltLink:
    url: str
    qr_svg: Markup


@dataclass(frozen=True)
class BulkLinks:
    spec: LinkSpec
    ref_ids: list[str]
    rejected: list[ReferenceRow]


def flow_utilities(flow: ConnectFlow) -> tuple[Utility, ...]:
    return tuple(UTILITIES_BY_ID[u] for u in flow.utility_ids if u in UTILITIES_BY_ID)


async def connect_overview(
    session: AsyncSession, organization: Organization, *, base_url: str, today: date | None = None
) -> list[FlowOverview]:
    """The organization's flows, each with its link base and links opened in the last 30 days."""
    today = today or utc_now().date()
    flows = await connect_repository.list_flows(session, organization.id)
    opens = await repository.link_opens_by_flow(
        session, organization.id, since=today - timedelta(days=LINK_OPENS_DAYS - 1)
    )
    return [
        FlowOverview(
            flow=flow,
            utilities=flow_utilities(flow),
            link_base=build_link(base_url, organization.name, flow.url_friendly_title),
            links_opened=opens.get(flow.id, 0),
        )
        for flow in flows
    ]


async def list_flows(session: AsyncSession, organization: Organization) -> list[ConnectFlow]:
    return await connect_repository.list_flows(session, organization.id)


async def require_flow(
    session: AsyncSession, organization: Organization, url_friendly_title: str
) -> ConnectFlow:
    """One of the organization's own flows; another organization's is as absent as a missing one."""
    flow = await connect_repository.get_flow(session, organization.id, url_friendly_title)
    if flow is None:
        raise NotFound(f'{organization.display_name} has no flow named "{url_friendly_title}".')
    return flow


async def chosen_flow(
    session: AsyncSession,
    organization: Organization,
    flows: Sequence[ConnectFlow],
    url_friendly_title: str | None,
) -> ConnectFlow | None:
    """The flow a page's query names, else the first of `flows` (None if there are none)."""
    if url_friendly_title:
        return await require_flow(session, organization, url_friendly_title)
    return flows[0] if flows else None


def read_link_spec(flow: ConnectFlow, utility_ids: Sequence[str]) -> LinkSpec:
    """The ticked utilities, checked like `requestedUtilities`; raises LinkInvalid."""
    try:
        requested = utilities_named_in_link(utility_ids, offered=flow.utility_ids)
    except LinkError as error:
        raise LinkInvalid({"utility_id": error.message}) from None
    return LinkSpec(flow=flow, requested_utilities=requested)


def build_partner_link(
    organization: Organization,
    flow: ConnectFlow,
    *,
    base_url: str,
    utility_ids: Sequence[str],
    ref_id: str,
) -> BuiltLink:
    """A Connect link with its QR code; raises LinkInvalid with every field's problem at once."""
    errors: dict[str, str] = {}
    spec: LinkSpec | None = None
    reference: str | None = None
    try:
        spec = read_link_spec(flow, utility_ids)
    except LinkInvalid as invalid:
        errors.update(invalid.errors)
    try:
        reference = parse_ref_id(ref_id)
    except LinkError as error:
        errors["ref_id"] = error.message
    if errors or spec is None:
        raise LinkInvalid(errors)
    url = link_for(organization, spec, base_url=base_url, ref_id=reference)
    return BuiltLink(url=url, qr_svg=qr_svg(url))


def link_for(
    organization: Organization, spec: LinkSpec, *, base_url: str, ref_id: str | None
) -> str:
    return build_link(
        base_url,
        organization.name,
        spec.flow.url_friendly_title,
        requested_utilities=spec.requested_utilities,
        ref_id=ref_id,
    )


def qr_svg(url: str) -> Markup:
    """The URL as a QR code (never a Micro QR, which phones read badly), as inline SVG."""
    qr = segno.make_qr(url, error="m")
    svg = qr.svg_inline(scale=1, border=4, dark="#000", light="#fff", omitsize=True, title=QR_TITLE)
    # Named by its <title>; role="img" makes assistive technology treat it as one picture.
    return Markup(svg.replace("<svg ", '<svg role="img" focusable="false" ', 1))  # noqa: S704


def read_uploaded_references(data: bytes) -> list[ReferenceRow]:
    """The Reference IDs of an uploaded CSV, good and bad by line; raises UploadUnreadable."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadUnreadable(
            f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB. "
            "Please split it into smaller files."
        )
    try:
        # utf-8-sig: spreadsheets start the UTF-8 CSV files they export with a byte-order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UploadUnreadable(
            f"The file is not UTF-8 text (byte {error.start + 1} is not). "
            'Save it as "CSV UTF-8" and upload it again.'
        ) from None
    try:
        rows = read_reference_rows(io.StringIO(text, newline=""))
    except CsvUnreadable as error:
        raise UploadUnreadable(f"The file is not a CSV file we can read: {error}.") from None
    if not rows:
        raise UploadUnreadable("The file has no Reference IDs.")
    if len(rows) > MAX_UPLOAD_ROWS:
        raise UploadUnreadable(
            f"The file has {len(rows):,} rows; the limit is {MAX_UPLOAD_ROWS:,}. "
            "Please split it into smaller files."
        )
    return rows


def bulk_links(spec: LinkSpec, rows: list[ReferenceRow]) -> BulkLinks:
    return BulkLinks(
        spec=spec,
        ref_ids=[row.ref_id for row in rows if row.ref_id is not None],
        rejected=[row for row in rows if row.error is not None],
    )


def encode_ref_ids(ref_ids: list[str]) -> str:
    return json.dumps(ref_ids, separators=(",", ":"))


def decode_ref_ids(value: str) -> list[str]:
    """The Reference IDs a bulk result page passed on, checked again: the page could be edited."""
    try:
        ref_ids = json.loads(value)
    except ValueError:
        ref_ids = None
    if not isinstance(ref_ids, list) or not ref_ids or len(ref_ids) > MAX_UPLOAD_ROWS:
        raise ValidationFailed(
            "The list of Reference IDs is missing. Please upload the file again."
        )
    checked: list[str] = []
    for position, ref_id in enumerate(ref_ids, start=1):
        try:
            reference = parse_ref_id(ref_id) if isinstance(ref_id, str) else None
        except LinkError as error:
            raise ValidationFailed(f"Reference ID {position}: {error.message}") from None
        if reference is None:
            raise ValidationFailed(f"Reference ID {position} is empty.")
        checked.append(reference)
    return checked


def links_csv(organization: Organization, spec: LinkSpec, ref_ids: list[str], base_url: str) -> str:
    out = io.StringIO()
    write_links_csv(
        out, ref_ids, lambda ref_id: link_for(organization, spec, base_url=base_url, ref_id=ref_id)
    )
    return out.getvalue()
