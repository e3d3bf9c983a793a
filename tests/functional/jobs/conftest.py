"""The job test fixtures, shared with the unit tests rather than written twice."""

from __future__ import annotations

from tests.unit.jobs.conftest import sessionmaker

__all__ = ["sessionmaker"]
