"""Accessible colours from any brand colour: WCAG 2 contrast ratios and the shades pages use.

A partner picks one colour. Customer pages paint buttons with it, write on it, and draw focus rings
and links with it on white, so each of those pairs must reach its WCAG AA ratio: 4.5:1 for text,
3:1 for a focus ring. `brand_palette` keeps the colour when it can and otherwise moves its shade
(darker or lighter, same hue) just far enough, and says what it changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TEXT_RATIO = 4.5  # WCAG 2.2 SC 1.4.3, normal text
NON_TEXT_RATIO = 3.0  # WCAG 2.2 SC 1.4.11, focus indicators and control boundaries
WHITE = "#ffffff"
INK = "#1b1f24"  # the pages' text colour
PAGE_BACKGROUND = "#f6f8fa"  # behind the cards

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


def parse_hex(colour: str) -> tuple[int, int, int]:
    match = _HEX.match(colour)
    if match is None:
        raise ValueError(f'"{colour}" is not a colour like #1f6feb')
    digits = match.group(1)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(part))):02x}" for part in rgb)


def relative_luminance(colour: str) -> float:
    """WCAG 2's relative luminance of an sRGB colour."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(part) for part in parse_hex(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """From 1 (the same) to 21 (black on white), whichever colour is lighter."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _mix(colour: str, towards: str, amount: float) -> str:
    start, end = parse_hex(colour), parse_hex(towards)
    mixed = tuple(a + (b - a) * amount for a, b in zip(start, end, strict=True))
    return to_hex((mixed[0], mixed[1], mixed[2]))


def shade_reaching(colour: str, against: tuple[str, ...], ratio: float, *, towards: str) -> str:
    """`colour`, moved towards `towards` (black or white) by the least that gives `ratio` against
    every colour in `against` (the least step of 1/256 found by bisection)."""
    if all(contrast_ratio(colour, other) >= ratio for other in against):
        return colour
    low, high = 0, 256
    while low < high:
        middle = (low + high) // 2
        if all(contrast_ratio(_mix(colour, towards, middle / 256), o) >= ratio for o in against):
            high = middle
        else:
            low = middle + 1
    return _mix(colour, towards, low / 256)


@dataclass(frozen=True, slots=True)
class BrandPalette:
    """The shades customer pages draw with, each reaching its ratio."""

    chosen: str  # the partner's colour, as set
    surface: str  # buttons and the masthead's band: `chosen`, or a shade of it
    on_surface: str  # text on `surface`
    on_white: str  # the brand as text, links and focus rings on white and the page background

    @property
    def surface_adjusted(self) -> bool:
        return self.surface != self.chosen

    @property
    def on_white_adjusted(self) -> bool:
        return self.on_white != self.chosen


def brand_palette(colour: str) -> BrandPalette:
    """Shades of `colour` with AA contrast: text on the brand surface ≥ 4.5:1, the brand as text
    or focus ring on white ≥ 4.5:1 (so a ring is well past 3:1)."""
    chosen = to_hex(parse_hex(colour))
    surface, on_surface = chosen, _best_text(chosen)
    if contrast_ratio(surface, on_surface) < TEXT_RATIO:
        # Neither white nor ink reads on it: a mid tone. Darken it under white text.
        surface = shade_reaching(chosen, (WHITE,), TEXT_RATIO, towards="#000000")
        on_surface = WHITE
    on_white = shade_reaching(chosen, (WHITE, PAGE_BACKGROUND), TEXT_RATIO, towards="#000000")
    return BrandPalette(chosen=chosen, surface=surface, on_surface=on_surface, on_white=on_white)


def _best_text(background: str) -> str:
    return max((WHITE, INK), key=lambda text: contrast_ratio(text, background))


def palette_warnings(colour: str) -> list[str]:
    """What a partner should know about their colour: which shades pages draw in its place."""
    palette = brand_palette(colour)
    warnings: list[str] = []
    if palette.surface_adjusted:
        warnings.append(
            f"Text on buttons in {palette.chosen} cannot reach a contrast of 4.5:1, so customer "
            f"pages draw buttons in the darker shade {palette.surface} with white text."
        )
    elif palette.on_surface != WHITE:
        ratio = contrast_ratio(palette.chosen, WHITE)
        warnings.append(
            f"White text on {palette.chosen} has a contrast of only {ratio:.1f}:1, so buttons in "
            f"this colour carry dark text ({palette.on_surface})."
        )
    if palette.on_white_adjusted:
        ratio = min(contrast_ratio(palette.chosen, page) for page in (WHITE, PAGE_BACKGROUND))
        warnings.append(
            f"{palette.chosen} on the pages' white and light grey has a contrast of only "
            f"{ratio:.1f}:1, so links and focus rings are drawn in the darker shade "
            f"{palette.on_white}."
        )
    return warnings
