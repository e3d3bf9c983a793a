"""How the partner API's error responses appear in OpenAPI: RFC 9457 problems, with examples."""

from __future__ import annotations

from typing import Any

from leap_connect.kit.problems import PROBLEM_CONTENT_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem: what went wrong, in words a person can act on.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Each bad field and what is wrong with it.",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def _problem(
    status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    slug = title.lower().replace(" ", "-")
    body: dict[str, Any] = {
        "type": f"https://leap-connect.dev/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return body


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}

_EXAMPLES: dict[int, tuple[str, dict[str, Any], dict[str, Any]]] = {
    400: (
        "The request cannot be read (a body that is not UTF-8 JSON) or used as it is (a page "
        "token from another search).",
        _problem(
            400,
            "Bad page token",
            "page_token is not valid for this search. Pass the next_page_token of the previous "
            "page unchanged, with the same filters.",
            [{"field": "page_token", "message": "not a page token of this search"}],
        ),
        {},
    ),
    401: (
        "No API key, or one that is not valid.",
        _problem(401, "Unauthorized", "This API key is not valid."),
        {
            "WWW-Authenticate": {
                "description": "`Bearer`: send an API key.",
                "schema": {"type": "string"},
            }
        },
    ),
    403: (
        "The API key lacks the scope this operation needs.",
        _problem(403, "Forbidden", "This API key lacks the `meters:write` scope."),
        {},
    ),
    404: (
        "No such object in your organization.",
        _problem(404, "Not found", "There is no meter with this ID."),
        {},
    ),
    409: (
        "The object is not in a state that allows this.",
        _problem(
            409,
            "Conflict",
            "This meter's authorization was revoked: the utility no longer shares its data.",
        ),
        {},
    ),
    422: (
        "The request is not valid; `errors` names each bad field.",
        _problem(
            422,
            "Validation failed",
            "The request is not valid.",
            [{"field": "page_size", "message": "Input should be less than or equal to 500"}],
        ),
        {},
    ),
    429: (
        "This API key made too many requests; wait `Retry-After` seconds.",
        _problem(429, "Too many requests", "This API key made too many requests. Retry in 12 s."),
        _RETRY_AFTER,
    ),
    502: (
        "The utility answered with an error or with data we could not read.",
        _problem(502, "Bad gateway", "The utility refused the data request (401)."),
        {},
    ),
    503: (
        "The utility (or this service) is briefly unavailable; try again after `Retry-After`.",
        _problem(503, "Service unavailable", "The utility did not answer in time."),
        _RETRY_AFTER,
    ),
}

AUTHENTICATED = (401, 403, 429)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of an operation: each status as an `application/problem+json` problem."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, example, headers = _EXAMPLES[status]
        response: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA, "example": example}},
        }
        if headers:
            response["headers"] = headers
        responses[status] = response
    return responses
