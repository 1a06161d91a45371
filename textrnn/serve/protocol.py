"""The HTTP protocol the server runs: uvicorn's httptools one, guarded against clients that stall or send junk.

A deadline for a request's line and headers and a cap on their size, the open connections counted (ServerLoad,
for ConcurrencyLimitMiddleware), and uvicorn's own 400 in the JSON error contract, written as raw bytes since no
app runs at that point.
"""

import asyncio
import json
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .settings import ServeSettings


def raw_error_response(status: int, error_type: str, message: str) -> bytes:
    """The JSON error contract as the bytes of a whole HTTP/1.1 response that closes the connection, for the
    answers the protocol writes itself, where no app is running."""
    body = json.dumps({"error": message, "error_type": error_type}).encode()
    head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n" \
           f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    return head.encode("ascii") + body


class ServerLoad:
    """What the server holds now, for ConcurrencyLimitMiddleware: open connections, counted by the protocol
    (0 in-process, where there are none), and requests in flight, counted by the middleware."""

    def __init__(self):
        self.connections = 0
        self.requests = 0


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with what it lacks against clients that stall or send junk.

    uvicorn arms no timer until a first response has gone out, and any byte disarms it, so a connection that
    never finishes its headers (or sends nothing, or blank lines) is held forever. Here a deadline runs from the
    connection's start, or from the first byte of the next request, to that request's last header; a request's
    line and headers are capped in size (httptools sets no cap); connections are counted for
    ConcurrencyLimitMiddleware; and uvicorn's text/plain 400 is the JSON error contract. Overridden: asyncio's
    Protocol methods, httptools' parser callbacks, and uvicorn's send_400_response and on_response_complete.
    A subclass binds `settings` and `load` (make_server).
    """

    settings: ServeSettings
    load: ServerLoad

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_deadline: asyncio.TimerHandle | None = None
        self.awaiting_headers = True  # the parser is between two requests, or inside a request's line and headers
        self.header_bytes = 0  # received since then
        self.responses_owed = 0  # requests whose headers were read and whose response is not complete

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.load.connections += 1
        self.start_header_deadline()

    def connection_lost(self, exc) -> None:
        self.load.connections -= 1
        self.stop_header_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.awaiting_headers:
            self.start_header_deadline()
            self.header_bytes += len(data)  # set back to 0 if this data completes the headers
        super().data_received(data)
        if self.awaiting_headers and self.header_bytes > self.settings.max_header_bytes:
            self.refuse(431, "headers_too_large", f"the request line and headers are over the limit of "
                        f"{self.settings.max_header_bytes:,} bytes")

    def on_headers_complete(self) -> None:
        self.stop_header_deadline()
        self.awaiting_headers, self.header_bytes = False, 0
        self.responses_owed += 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.awaiting_headers = True  # the body is in: what comes next is the next request
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.responses_owed -= 1
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        self.refuse(400, "invalid_http", "the request is not valid HTTP/1.1 (a malformed request line, header or "
                    "body framing)")

    def start_header_deadline(self) -> None:
        if self.header_deadline is None:
            loop = asyncio.get_running_loop()
            self.header_deadline = loop.call_later(self.settings.header_timeout_s, self.header_time_up)

    def stop_header_deadline(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def header_time_up(self) -> None:
        self.header_deadline = None
        self.refuse(408, "header_timeout", f"the request line and headers did not arrive within "
                    f"{self.settings.header_timeout_s:g} s")

    def refuse(self, status: int, error_type: str, message: str) -> None:
        """Answers without the app, then closes. Not answered: a client that sent nothing, and one with a response
        under way (pipelining), which the answer would cut into."""
        if self.transport.is_closing():
            return
        if self.header_bytes and not self.responses_owed:
            self.transport.write(raw_error_response(status, error_type, message))
        self.transport.close()
