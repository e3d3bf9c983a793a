"""Third-party reference files, read from the folder LEAP_CONNECT_REFERENCE_DATA names.

Real utilities' Green Button samples, the official ESPI and customer XSDs and Leap's OpenAPI
descriptions are not the project's to commit. The tests that check the project against them ask for
a file here: without the variable they are skipped (and the run ends with one line saying so); with
it, a missing file is a failure, so a CI run that points at the folder cannot silently skip them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

VARIABLE = "LEAP_CONNECT_REFERENCE_DATA"
SKIP_REASON = f"reference data: {VARIABLE} is unset"


def reference_folder() -> Path | None:
    """The reference-data folder (holding `greenbutton/`, `leap/`), or None when it is not set."""
    value = os.environ.get(VARIABLE, "").strip()
    return Path(value) if value else None


def reference_file(*parts: str) -> Path:
    """The path of one reference file; skips the calling test when the folder is not configured."""
    folder = reference_folder()
    if folder is None:
        pytest.skip(SKIP_REASON)
    path = folder.joinpath(*parts)
    if not path.is_file():
        pytest.fail(f"{VARIABLE}={folder} has no {Path(*parts)}")
    return path


def green_button_file(name: str) -> Path:
    """A file of the Green Button reference set (`greenbutton/` in the reference folder)."""
    return reference_file("greenbutton", name)


def leap_file(name: str) -> Path:
    """One of Leap's published OpenAPI descriptions (`leap/` in the reference folder)."""
    return reference_file("leap", name)
