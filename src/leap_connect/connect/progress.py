"""The journey's step indicator: only the steps this flow has, in its order, and where we are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from leap_connect.kit.i18n import N_

StepName = Literal["details", "utility", "terms", "done"]

# Translated where they are shown (the template's `translate`).
LABELS: dict[StepName, str] = {
    "details": N_("Your details"),
    "utility": N_("Your utility"),
    "terms": N_("Terms"),
    "done": N_("Done"),
}


@dataclass(frozen=True, slots=True)
class Step:
    name: StepName
    label: str
    state: Literal["done", "current", "todo"]


def journey_steps(*, has_terms: bool, terms_first: bool, current: StepName) -> tuple[Step, ...]:
    """ "1 Your details · 2 Your utility · 3 Terms · 4 Done", without Terms when there are none to
    sign, with Terms before the utility when the flow signs them first."""
    names: list[StepName] = ["details"]
    if has_terms and terms_first:
        names.append("terms")
    names.append("utility")
    if has_terms and not terms_first:
        names.append("terms")
    names.append("done")
    position = names.index(current) if current in names else 0
    return tuple(
        Step(
            name,
            LABELS[name],
            "done" if index < position else "current" if index == position else "todo",
        )
        for index, name in enumerate(names)
    )
