"""The customer pages' Spanish catalog holds every message they show, and requests get their
language from the switch, the session's cookie or the browser."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from leap_connect.kit import i18n
from tests.support.catalog import extracted_messages

CATALOG = i18n.LOCALE_DIR / "es" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def spanish() -> dict[str, str]:
    with CATALOG.open("rb") as source:
        catalog = read_po(source, locale="es")
    found: dict[str, str] = {}
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for index, text in enumerate(ids):
            found[text] = strings[min(index, len(strings) - 1)]
    return found


def test_every_message_of_the_customer_pages_is_translated_to_spanish() -> None:
    translated = spanish()
    missing = [
        f"{where}: {message!r}"
        for message, where in extracted_messages().items()
        if not translated.get(message)
    ]
    assert not missing, "not in locale/es/LC_MESSAGES/messages.po:\n" + "\n".join(missing)


def test_translations_keep_their_placeholders() -> None:
    for message, translation in spanish().items():
        assert set(PLACEHOLDER.findall(message)) == set(PLACEHOLDER.findall(translation)), message


def test_accept_language_chooses_among_our_languages() -> None:
    assert i18n.negotiate("es-US,es;q=0.9,en;q=0.8") == "es"
    assert i18n.negotiate("en-US,en;q=0.9,es;q=0.8") == "en"
    assert i18n.negotiate("fr-FR,es;q=0.5") == "es"
    assert i18n.negotiate("fr-FR, de;q=0.5") == "en"
    assert i18n.negotiate("es;q=0, en;q=0.1") == "en"
    assert i18n.negotiate("") == "en"


def test_the_language_switch_keeps_the_rest_of_the_address() -> None:
    assert (
        i18n.switch_url("/acme/ca-homes", "refId=cust%2042&lang=en", "es")
        == "/acme/ca-homes?refId=cust+42&lang=es"
    )
