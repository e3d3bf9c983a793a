"""Logs are coloured text for a person at a terminal in development, JSON lines everywhere else."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from leap_connect.kit.observability import LogFormat, configure_logging


class Terminal(io.StringIO):
    """Output that says it is a terminal, as a developer's shell is."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def log_one_line(stream: io.StringIO, log_format: LogFormat, *, development: bool) -> str:
    configure_logging("INFO", log_format, development=development, stream=stream)
    structlog.get_logger("leap_connect.test").info("job finished", job="deliver_webhooks")
    return stream.getvalue()


def test_a_developer_at_a_terminal_reads_coloured_text_not_json() -> None:
    line = log_one_line(Terminal(), "auto", development=True)

    assert "\x1b[" in line  # ANSI colour
    assert "job finished" in line
    assert "deliver_webhooks" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


@pytest.mark.parametrize(
    ("stream", "development"),
    [(io.StringIO(), True), (Terminal(), False), (io.StringIO(), False)],
    ids=["development-redirected-to-a-file", "production-at-a-terminal", "production-to-a-file"],
)
def test_everything_but_a_development_terminal_gets_one_json_object_a_line(
    stream: io.StringIO, development: bool
) -> None:
    line = log_one_line(stream, "auto", development=development)

    entry = json.loads(line)
    assert entry["event"] == "job finished"
    assert entry["job"] == "deliver_webhooks"
    assert entry["level"] == "info"
    assert entry["timestamp"].endswith("Z")


def test_json_can_be_forced_at_a_terminal_and_text_into_a_file() -> None:
    assert json.loads(log_one_line(Terminal(), "json", development=True))["event"] == "job finished"

    text = log_one_line(io.StringIO(), "console", development=False)
    assert "job finished" in text
    assert "\x1b[" not in text  # no colour codes written into a file
