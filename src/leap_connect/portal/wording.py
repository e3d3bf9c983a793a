"""The words the portal shows for codes: statuses as a partner's staff say them, utilities by name.

Each function returns the words and the code they stand for; templates show the words, with the
code in a tooltip for whoever talks to the API. A code this module does not know yet (a status
added later) reads as itself, capitalised, so nothing ever shows blank.
"""

from __future__ import annotations

from dataclasses import dataclass

from leap_connect.utilities.registry import UTILITIES_BY_ID


@dataclass(frozen=True)
class Worded:
    words: str
    code: str
    tone: str = "neutral"  # "good", "bad" or "neutral": the badge's colour


SESSION_STATUSES = {
    "CREATED": Worded("In progress", "CREATED"),
    "UPDATED": Worded("In progress", "UPDATED"),
    "COMPLETED": Worded("Finished", "COMPLETED", "good"),
    "CLOSED": Worded("Closed", "CLOSED", "bad"),
}
# The session filter's choices, finer than the words: the filter takes one status code.
SESSION_FILTER_LABELS = {
    "CREATED": "In progress, at the utility",
    "UPDATED": "In progress, back from a utility",
    "COMPLETED": "Finished",
    "CLOSED": "Closed",
}

AUTHORIZATION_STATUSES = {
    "INITIATED": Worded("Waiting for the customer", "INITIATED"),
    "COMPLETED": Worded("Connected", "COMPLETED", "good"),
    "REVOKED": Worded("Revoked", "REVOKED", "bad"),
    "EXPIRED": Worded("Expired", "EXPIRED", "bad"),
}
# A meter's authorization, as the meters API gives it.
METER_AUTHORIZATION_STATUSES = {
    "ACTIVE": Worded("Sharing data", "ACTIVE", "good"),
    "REVOKED": Worded("Revoked", "REVOKED", "bad"),
    "EXPIRED": Worded("Expired", "EXPIRED", "bad"),
}
# Why an authorization failed, by its `error_code`.
FAILURES = {
    "access_denied": "Declined at the utility",
    "temporarily_unavailable": "Utility unavailable",
    "server_error": "Utility unavailable",
    "utility_unavailable": "Utility unavailable",
    "invalid_state": "Link expired or reused",
}


def _as_itself(code: str) -> Worded:
    return Worded(code.replace("_", " ").capitalize(), code)


def session_status(code: str) -> Worded:
    return SESSION_STATUSES.get(code) or _as_itself(code)


def authorization_status(code: str, error_code: str | None = None) -> Worded:
    if code == "FAILED":
        words = FAILURES.get(error_code or "", "Could not connect")
        return Worded(words, f"FAILED: {error_code}" if error_code else "FAILED", "bad")
    return AUTHORIZATION_STATUSES.get(code) or _as_itself(code)


def meter_authorization_status(code: str) -> Worded:
    return METER_AUTHORIZATION_STATUSES.get(code) or _as_itself(code)


def utility_name(utility_id: str) -> str:
    """The name customers and staff use for a utility ("PG&E", "Con Edison")."""
    utility = UTILITIES_BY_ID.get(utility_id)
    return utility.customer_name if utility else utility_id
