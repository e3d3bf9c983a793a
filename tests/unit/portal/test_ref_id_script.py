"""The link builder's script says what the server says about a Reference ID, for the same input."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leap_connect.kit.link_rules import LinkError, parse_ref_id
from leap_connect.kit.templating import PACKAGE_DIR

SCRIPT = PACKAGE_DIR / "connect" / "static" / "portal.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="needs node to run the portal's script")


def server_says(value: str) -> str | None:
    try:
        parse_ref_id(value)
    except LinkError as error:
        return error.message
    return None


def script_says(values: list[str]) -> list[str | None]:
    program = (
        f"const {{ refIdProblem }} = require({json.dumps(str(SCRIPT))});"
        "let input = ''; process.stdin.on('data', d => input += d);"
        "process.stdin.on('end', () => process.stdout.write("
        "JSON.stringify(JSON.parse(input).map(refIdProblem))));"
    )
    assert NODE is not None
    result = subprocess.run(
        [NODE, "-e", program],
        input=json.dumps(values),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answers: list[str | None] = json.loads(result.stdout)
    return answers


EXAMPLES = [
    "",
    "cust-42",
    "cust 42/7 & co=1+2",
    " ~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}",
    "r" * 255,
    "r" * 256,
    "é" * 256,
    "Zoë",
    "tab\there",
    "new\nline",
    "del\x7f",
    "nbsp\u00a0",
    "c1\x85",
    "emoji 😀",
    "😀" * 255,
    "😀" * 256,
]


def test_the_script_and_the_server_agree_on_examples_around_every_rule() -> None:
    assert script_says(EXAMPLES) == [server_says(value) for value in EXAMPLES]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(max_size=300), min_size=1, max_size=20))
def test_the_script_and_the_server_agree_on_any_text(values: list[str]) -> None:
    # Lone surrogates cannot travel as UTF-8, in a form or to node.
    values = [v for v in values if not any(0xD800 <= ord(c) <= 0xDFFF for c in v)]
    assert script_says(values) == [server_says(value) for value in values]
