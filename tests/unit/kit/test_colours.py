"""Any brand colour gives shades that reach WCAG AA contrast, and says when it had to move."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leap_connect.kit.colours import (
    INK,
    PAGE_BACKGROUND,
    WHITE,
    brand_palette,
    contrast_ratio,
    palette_warnings,
)

colours = st.integers(min_value=0, max_value=0xFFFFFF).map(lambda value: f"#{value:06x}")


def test_contrast_ratio_matches_wcag_examples() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1)
    # The README's own example: white on #ff6a00 is only 2.9:1.
    assert contrast_ratio("#ff6a00", WHITE) == pytest.approx(2.87, abs=0.01)


@given(colours)
def test_every_colour_gives_readable_buttons_and_visible_focus(colour: str) -> None:
    palette = brand_palette(colour)
    assert contrast_ratio(palette.surface, palette.on_surface) >= 4.5
    for page in (WHITE, PAGE_BACKGROUND):
        assert contrast_ratio(palette.on_white, page) >= 4.5


@pytest.mark.parametrize(
    ("colour", "text_on_button"),
    [("#ff6a00", INK), ("#ffff00", INK), ("#000080", WHITE)],
)
def test_a_colour_that_reads_is_kept_and_only_its_text_changes(
    colour: str, text_on_button: str
) -> None:
    palette = brand_palette(colour)
    assert palette.surface == colour
    assert palette.on_surface == text_on_button


def test_a_mid_tone_is_darkened_just_enough_for_white_text() -> None:
    palette = brand_palette("#808080")
    assert palette.surface != "#808080"
    assert 4.5 <= contrast_ratio(palette.surface, WHITE) < 4.7


def test_warnings_say_which_shade_is_drawn_instead() -> None:
    [on_button, on_white] = palette_warnings("#ff6a00")
    assert "White text on #ff6a00 has a contrast of only 2.9:1" in on_button
    assert "drawn in the darker shade #bf5000" in on_white
    assert palette_warnings("#000080") == []
    assert any("#808080 cannot reach" in warning for warning in palette_warnings("#808080"))
