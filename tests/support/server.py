"""Real server processes for end-to-end tests: `leap-connect serve` on a free port, seeded first."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

CLI = str(Path(sys.executable).with_name("leap-connect"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(
    url: str,
    process: subprocess.Popen[bytes],
    timeout: float = 30,
    probe: httpx.Client | None = None,
) -> None:
    client = probe or httpx.Client(timeout=1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            if client.get(url).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


@contextmanager
def running(
    args: list[str],
    *,
    env: dict[str, str],
    health_url: str,
    log_path: Path,
    probe: httpx.Client | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [CLI, *args], env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(health_url, process, probe=probe)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def leap_connect_server(
    database_url: str,
    tmp_path: Path,
    extra_env: dict[str, str] | None = None,
    *,
    port: int | None = None,
) -> Iterator[str]:
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "LEAP_CONNECT_DATABASE_URL": database_url,
        "LEAP_CONNECT_BASE_URL": base_url,
        "LEAP_CONNECT_DATA_DIR": str(tmp_path),
        "LEAP_CONNECT_SANDBOX": "true",
        "LEAP_CONNECT_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    with running(
        ["serve", "--port", str(port)],
        env=env,
        health_url=f"{base_url}/healthz",
        log_path=tmp_path / f"serve-{port}.log",
    ):
        yield base_url
