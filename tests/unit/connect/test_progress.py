"""The step indicator shows only the steps a flow has, in its order."""

from __future__ import annotations

from leap_connect.connect.progress import journey_steps


def labels(**kwargs: object) -> list[tuple[str, str]]:
    return [(step.label, step.state) for step in journey_steps(**kwargs)]  # type: ignore[arg-type]


def test_a_flow_without_terms_has_three_steps() -> None:
    assert labels(has_terms=False, terms_first=False, current="utility") == [
        ("Your details", "done"),
        ("Your utility", "current"),
        ("Done", "todo"),
    ]


def test_terms_come_where_the_flow_signs_them() -> None:
    after = labels(has_terms=True, terms_first=False, current="terms")
    assert [label for label, _ in after] == ["Your details", "Your utility", "Terms", "Done"]
    before = labels(has_terms=True, terms_first=True, current="details")
    assert [label for label, _ in before] == ["Your details", "Terms", "Your utility", "Done"]
    assert [state for _, state in before] == ["current", "todo", "todo", "todo"]
