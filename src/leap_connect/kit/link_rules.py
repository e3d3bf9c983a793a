"""What the names in a Connect link may be: Reference IDs, and the URL names of partners and flows.

Pure rules with no dependencies, shared by every part that makes, reads or stores a link.
"""

from __future__ import annotations

import re

REF_ID_MAX_LENGTH = 255

# An organization's or a flow's name in a link's path: 1-63 lowercase letters, digits and hyphens.
URL_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# First path segments the app itself uses; an organization of that name would be unreachable.
RESERVED_NAMES = frozenset(
    {"api", "brand", "connect", "demo", "docs", "healthz", "metrics", "openapi.json", "portal"}
    | {"readyz", "sandbox", "static", "v1", "v2", "v3", "admin", "www"}
)


class LinkError(ValueError):
    """A link parameter is wrong; the message says what, in words a person can act on."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_ref_id(value: str | None) -> str | None:
    """A Reference ID is 1–255 printable US-ASCII characters; absent or empty means none."""
    if value is None or value == "":
        return None
    if len(value) > REF_ID_MAX_LENGTH:
        raise LinkError(
            "refId",
            f"refId is {len(value)} characters long; the limit is {REF_ID_MAX_LENGTH}.",
        )
    for position, character in enumerate(value, start=1):
        if not " " <= character <= "~":
            raise LinkError(
                "refId",
                f"refId may contain only printable ASCII characters; character {position} "
                f"is {_describe(character)}.",
            )
    return value


def _describe(character: str) -> str:
    code = ord(character)
    if code < 0x20 or code == 0x7F:
        return f"a control character (U+{code:04X})"
    if 0xD800 <= code <= 0xDFFF:  # a lone surrogate cannot be quoted: nothing can encode it
        return f"a lone surrogate (U+{code:04X}), which is not a character"
    return f'"{character}" (U+{code:04X}), which is not ASCII'
