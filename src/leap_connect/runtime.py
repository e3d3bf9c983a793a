"""The long-lived objects a process shares, whether it serves requests or runs jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leap_connect.kit.crypto import Encryptor
from leap_connect.kit.http import HttpClientFactory
from leap_connect.settings import Settings
from leap_connect.utilities.connector import Connector
from leap_connect.utilities.connectors import build_connectors


@dataclass
class Runtime:
    encryptor: Encryptor
    http: HttpClientFactory
    connectors: dict[str, Connector]

    def as_job_extras(self) -> dict[str, Any]:
        """What job handlers find in `JobContext.extras`."""
        return {"encryptor": self.encryptor, "http": self.http, "connectors": self.connectors}


def build_runtime(settings: Settings) -> Runtime:
    http = HttpClientFactory(timeout=settings.http_timeout_seconds)
    return Runtime(
        encryptor=Encryptor(settings.encryption_keys.get_secret_value()),
        http=http,
        connectors=build_connectors(settings, http),
    )
