"""Statuses in the words a partner's staff use, each keeping its code for the tooltip."""

from __future__ import annotations

from leap_connect.portal import wording


def test_session_statuses_read_as_people_say_them() -> None:
    assert [wording.session_status(c).words for c in ("CREATED", "UPDATED")] == ["In progress"] * 2
    assert wording.session_status("COMPLETED").words == "Finished"
    assert wording.session_status("CLOSED").words == "Closed"


def test_a_failed_authorization_says_why_and_keeps_the_code() -> None:
    declined = wording.authorization_status("FAILED", "access_denied")
    down = wording.authorization_status("FAILED", "temporarily_unavailable")

    assert (declined.words, declined.code) == ("Declined at the utility", "FAILED: access_denied")
    assert down.words == "Utility unavailable"
    assert wording.authorization_status("FAILED", "something_new").words == "Could not connect"


def test_a_status_added_later_reads_as_itself_rather_than_blank() -> None:
    assert wording.authorization_status("SUSPENDED").words == "Suspended"
    assert wording.session_status("ARCHIVED").code == "ARCHIVED"


def test_utilities_go_by_the_name_customers_use() -> None:
    assert wording.utility_name("pge") == "PG&E"
    assert wording.utility_name("cecony-utilityapi") == "Con Edison"
    assert wording.utility_name("no-such-utility") == "no-such-utility"
