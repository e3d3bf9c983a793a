"""Reads each request's body whole, within its route's size limit and a time limit, before the app.

Reading it here, before the request waits for a slot (kit/admission.py), means a client that sends
its body slowly costs a socket while it does, never one of the process's few request slots: forty
clients declaring a 100 kB form and sending a byte every two seconds used to hold every slot and
leave every page waiting. The body must arrive whole within `timeout` seconds, with no pause longer
than `idle_timeout`, or the request is answered 408; a body larger than its route accepts is
answered 413 (before any of it is read when its Content-Length says so). Both answers close the
connection, and are the error page for people or a problem document for programs.

A client that goes away while sending is answered nothing: the request is logged with status 499.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leap_connect.kit.pages import error_response

MAX_BODY_BYTES = 1024 * 1024
TOO_LARGE = "Request too large"
TIMEOUT = "Request timeout"


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RequestBodyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        timeout: float,
        idle_timeout: float,
        max_bytes: int = MAX_BODY_BYTES,
        max_bytes_by_path: Mapping[str, int] | None = None,
    ) -> None:
        """`max_bytes_by_path`: the routes that accept more (or less) than `max_bytes`."""
        self.app = app
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self.max_bytes = max_bytes
        self.max_bytes_by_path = dict(max_bytes_by_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes_by_path.get(scope["path"], self.max_bytes)
        declared = _content_length(scope)
        try:
            if declared is not None and declared > limit:
                raise _TooLarge
            body = await self._read(receive, limit)
        except _TooLarge:
            await _refuse(scope, receive, send, 413, TOO_LARGE, *_too_large(limit))
            return
        except _TooSlow as slow:
            page = f"{slow.detail} Please check your connection and try again."
            await _refuse(scope, receive, send, 408, TIMEOUT, slow.detail, page)
            return
        except ClientDisconnect:
            return  # nobody to answer

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # then only ever http.disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, limit: int) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        chunks: list[bytes] = []
        size = 0
        while True:
            wait = min(self.idle_timeout, deadline - loop.time())
            try:
                if wait <= 0:
                    raise TimeoutError
                async with asyncio.timeout(wait):
                    message = await receive()
            except TimeoutError:
                if wait < self.idle_timeout:
                    detail = f"The request's body did not arrive within {_seconds(self.timeout)}."
                else:
                    detail = (
                        f"Nothing more of the request arrived for {_seconds(self.idle_timeout)}."
                    )
                raise _TooSlow(detail) from None
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, title: str, detail: str, page: str
) -> None:
    # The rest of the body is still on its way: only closing the connection gets rid of it.
    response = error_response(
        Request(scope, receive),
        status,
        title,
        detail,
        page_message=page,
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)


def _too_large(limit: int) -> tuple[str, str]:
    size = _size(limit)
    return (
        f"The request body is larger than {size}, the most this operation accepts.",
        f"What you sent is larger than {size}, the most this page accepts. If you were uploading"
        " a file, please split it into smaller files.",
    )


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if (name == b"content-length" and value.strip() != b"0") or name == b"transfer-encoding":
            return True
    return False


def _seconds(count: float) -> str:
    shown = f"{count:g}"
    return f"{shown} second" if shown == "1" else f"{shown} seconds"


def _size(count: int) -> str:
    if count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
