"""uvicorn's HTTP protocol with the bounds on request headers it lacks: a deadline and a size.

uvicorn reads a request's line and headers for as long as the client takes and, with httptools (its
protocol when installed, as here), of any size: a client that opens connections and sends a header
line now and then holds each connection for ever, and one header can fill the memory. Here a
request's line and headers must arrive within `header_timeout` seconds of its first byte (of the
connection's opening, for the first request) and come to at most `max_header_bytes`; otherwise the
connection is answered 408, or 400, and closed. Bodies have their own deadline: kit/body_limit.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024
_TIMED_OUT_BODY = b"The request's headers did not arrive in time."
_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TIMED_OUT_BODY), _TIMED_OUT_BODY)
)


class HeadersTooLarge(Exception):
    """Raised from the parser's callback: uvicorn then answers 400 and closes the connection."""


class BoundedHeadersProtocol(HttpToolsProtocol):
    def __init__(
        self,
        *args: Any,
        header_timeout: float = 10.0,
        max_header_bytes: int = MAX_HEADER_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self._header_bytes = 0
        self._header_clock: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._start_header_clock()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_header_clock()
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            raise HeadersTooLarge

    def _start_header_clock(self) -> None:
        self._stop_header_clock()
        self._header_clock = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _stop_header_clock(self) -> None:
        if self._header_clock is not None:
            self._header_clock.cancel()
            self._header_clock = None

    def _headers_too_slow(self) -> None:
        self._header_clock = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request's headers, behind one still being answered: that answer must
            # not be cut or interleaved, so this request's clock starts again.
            self._start_header_clock()
            return
        self.transport.write(_TIMED_OUT)
        self.transport.close()
