"""What the demo partner's thank-you page checks: the redirect's signature, as a partner should."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from leap_connect.demo.seed import DEMO_ORG
from leap_connect.kit.crypto import Encryptor, signature_ok
from leap_connect.models import Organization
from leap_connect.organizations import repository

MAX_AGE_SECONDS = 600
REDIRECT_FIELDS = ("connect_session_id", "refId", "status", "ts")


@dataclass(frozen=True)
class ThankYouCheck:
    organization: Organization | None
    fields: dict[str, str]
    valid: bool  # signed with the demo partner's redirect-signing secret
    fresh: bool  # signed within the last MAX_AGE_SECONDS


async def check_thank_you(
    session: AsyncSession, encryptor: Encryptor, params: Mapping[str, str]
) -> ThankYouCheck:
    organization = await repository.get_organization_by_name(session, DEMO_ORG)
    fields = {key: params.get(key, "") for key in REDIRECT_FIELDS}
    if organization is None:
        return ThankYouCheck(None, fields, valid=False, fresh=False)
    secret = encryptor.decrypt(organization.redirect_signing_secret_encrypted)
    message = ".".join(fields[key] for key in REDIRECT_FIELDS)
    valid = signature_ok(secret, message, params.get("signature", ""))
    fresh = fields["ts"].isdigit() and abs(time.time() - int(fields["ts"])) <= MAX_AGE_SECONDS
    return ThankYouCheck(organization, fields, valid=valid, fresh=fresh)
