"""Which characters text from outside may hold: one rule for API bodies, queries and forms."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, field_validator

# Joiners shape some scripts' names (Persian, Indic): the only format characters a name may hold.
NAME_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d"})
# Line breaks and tabs are ordinary in free text; every other control character is not.
_TEXT_CONTROLS_ALLOWED = frozenset({"\t", "\n", "\r"})


def text_problem(value: str, what: str = "This text", *, name: bool = False) -> str | None:
    """Why `value` cannot be taken, or None.

    No text may hold a NUL (PostgreSQL refuses it), a lone surrogate (it is not Unicode and
    cannot be encoded) or another control character. A person's or company's name also refuses
    format characters such as bidi overrides (U+202E), which make it read differently from what
    it holds, except the joiners ZWJ and ZWNJ.
    """
    for character in value:
        category = unicodedata.category(character)
        if name and category[0] == "C" and character not in NAME_FORMAT_CHARACTERS:
            return f"{what} cannot contain control or formatting characters."
        if category == "Cs":
            return f"{what} contains an invalid character (a lone surrogate)."
        if category == "Cc" and character not in _TEXT_CONTROLS_ALLOWED:
            return f"{what} cannot contain control characters."
    return None


def displayable(value: str) -> str:
    """`value` with any lone surrogate written as an escape, so it can always be encoded."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _check(value: Any) -> Any:
    # One level deep: a nested model (a dict in a list) checks its own fields, so its error
    # names the nested field rather than the list holding it.
    strings = [value] if isinstance(value, str) else []
    if isinstance(value, Mapping):
        strings = [text for pair in value.items() for text in pair if isinstance(text, str)]
    elif isinstance(value, list | tuple | set | frozenset):
        strings = [item for item in value if isinstance(item, str)]
    for text in strings:
        if problem := text_problem(text, "The value"):
            raise ValueError(problem)
    return value


class RequestModel(BaseModel):
    """A request body whose every text field (a string, or the strings of a list or a dict)
    passes `text_problem`; a nested model that is a RequestModel checks its own fields."""

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_hostile_text(cls, value: Any) -> Any:
        return _check(value)


def _checked(value: str) -> str:
    if problem := text_problem(value, "The value"):
        raise ValueError(problem)
    return value


# A query parameter (or any single field) that passes `text_problem`.
Text = Annotated[str, AfterValidator(_checked)]
