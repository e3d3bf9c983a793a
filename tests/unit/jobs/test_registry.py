"""Registering handlers: one handler per kind, periodic jobs, importing handler modules."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import pytest

from leap_connect.jobs.registry import JobContext, Registry, import_handler_modules, registry
from leap_connect.jobs.retry import default_backoff


async def first(context: JobContext, payload: dict[str, Any]) -> None:
    pass


async def second(context: JobContext, payload: dict[str, Any]) -> None:
    pass


def test_a_registered_handler_is_found_by_its_kind_with_the_default_backoff() -> None:
    handlers = Registry()
    handlers.handler("meters.discover")(first)
    spec = handlers.get("meters.discover")
    assert spec is not None
    assert spec.handler is first
    assert spec.backoff is default_backoff
    assert spec.every is None
    assert handlers.get("meters.unknown") is None


def test_a_kind_cannot_have_two_different_handlers() -> None:
    handlers = Registry()
    handlers.handler("webhooks.deliver")(first)
    handlers.handler("webhooks.deliver")(first)  # the same function again, as on a re-import
    with pytest.raises(ValueError, match="already has a handler"):
        handlers.handler("webhooks.deliver")(second)


def test_a_kind_must_fit_the_column() -> None:
    with pytest.raises(ValueError, match="1 to 60"):
        Registry().handler("x" * 61)


def test_periodic_jobs_are_listed_with_their_interval() -> None:
    handlers = Registry()
    handlers.periodic("connect.close_idle_sessions", every=timedelta(minutes=1))(first)
    handlers.handler("webhooks.deliver")(second)
    [spec] = handlers.periodic_specs()
    assert spec.kind == "connect.close_idle_sessions"
    assert spec.every == timedelta(minutes=1)
    assert spec.periodic_dedupe_key == "periodic:connect.close_idle_sessions"


def test_extra_handler_modules_are_imported_and_register_their_handlers() -> None:
    sys.modules.pop("tests.functional.jobs.handlers", None)
    imported = import_handler_modules(" tests.functional.jobs.handlers, ")
    assert "tests.functional.jobs.handlers" in imported
    assert registry.get("test.stalls_on_first_attempt") is not None
