"""UtilityAPI's answers, built in the shape its API documents, for tests of what reads them.

A reference test in tests/unit/utilityapi/test_connector.py holds the authorization's keys to those
of UtilityAPI's own example, so this shape cannot drift from the real one.
"""

from __future__ import annotations

from typing import Any


def utilityapi_authorization(**changes: Any) -> dict[str, Any]:
    """An authorization object (`GET /api/v2/authorizations`) for a ConEd customer, with changes.

    It has the keys of UtilityAPI's documented example and no `meters`: UtilityAPI adds those only
    when asked to (`include=meters`), so a test that wants them passes `meters=`.
    """
    authorization: dict[str, Any] = {
        "uid": "48213",
        "created": "2026-03-10T15:00:00.250000+00:00",
        "customer_signature": {
            "type": "text",
            "ts": "2026-03-10T15:00:00.250000+00:00",
            "full_name": "Grace Hopper",
        },
        "customer_email": "grace@hopper-foods.example",
        "declined": None,
        "is_declined": False,
        "expires": "2027-03-10T15:00:00.250000+00:00",
        "is_expired": False,
        "exports": {
            "bills_combined_csv": "https://utilityapi.com/api/v2/files/meters_bills_csv?meters=321",
            "meters_csv": "https://utilityapi.com/api/v2/files/meters_csv?accounts=48213",
        },
        "template_uid": "tpl-7",
        "form_uid": "acme",
        "is_archived": False,
        "is_test": False,
        "scope": {},
        "nickname": None,
        "notes": [
            {
                "type": "access_valid",
                "msg": "Successfully registered with account number.",
                "ts": "2026-03-10T15:00:02.000000+00:00",
            }
        ],
        "revoked": None,
        "is_revoked": False,
        "status": "updated",
        "status_message": "Meters found!",
        "status_ts": "2026-03-10T15:00:30.000000+00:00",
        "user_uid": "1337",
        "user_email": "connect@acme.example",
        "user_status": "active",
        "utility": "CECONY",
    }
    return {**authorization, **changes}
