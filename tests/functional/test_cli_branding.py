"""`leap-connect orgs create/update`: what customers see of a partner, and warnings about its
brand colour when customer pages must draw another shade for contrast."""

from __future__ import annotations

import json

from tests.functional.test_cli import Run, assert_one_error_line, leap_connect  # noqa: F401


def test_an_orange_brand_colour_is_accepted_with_warnings(leap_connect: Run) -> None:  # noqa: F811
    created = leap_connect(
        "orgs", "create", "acme", "--display-name", "Acme Solar", "--brand-color", "#ff6a00"
    )
    assert created.returncode == 0, created.stderr
    warnings = [line for line in created.stdout.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert "White text on #ff6a00 has a contrast of only 2.9:1" in warnings[0]
    assert "darker shade #bf5000" in warnings[1]


def test_update_changes_branding_and_support_contact(leap_connect: Run) -> None:  # noqa: F811
    assert leap_connect("orgs", "create", "acme", "--display-name", "Acme").returncode == 0
    updated = json.loads(
        leap_connect(
            "orgs",
            "update",
            "acme",
            "--brand-color",
            "#FFFF00",
            "--support-contact",
            "https://acme.example/help",
            "--display-name",
            "Acme Solar",
            "--json",
        ).stdout
    )
    assert updated["brand_color"] == "#ffff00"
    assert updated["support_contact"] == "https://acme.example/help"
    assert updated["display_name"] == "Acme Solar"
    assert any("#ffff00" in warning for warning in updated["warnings"])

    navy = leap_connect("orgs", "update", "acme", "--brand-color", "#000080")
    assert navy.stdout == "updated organization acme\n"

    cleared = json.loads(
        leap_connect("orgs", "update", "acme", "--support-contact", "", "--json").stdout
    )
    assert cleared["support_contact"] is None


def test_a_support_contact_must_be_an_address_or_https(leap_connect: Run) -> None:  # noqa: F811
    assert leap_connect("orgs", "create", "acme", "--display-name", "Acme").returncode == 0
    refused = leap_connect("orgs", "update", "acme", "--support-contact", "call us")
    assert_one_error_line(
        refused,
        "The support contact must be an e-mail address (help@acme.example) "
        "or a URL starting with https://.",
    )
    missing = leap_connect("orgs", "update", "nobody", "--display-name", "X")
    assert_one_error_line(missing, 'There is no organization named "nobody".')
