"""The ASGI middleware around the app, outermost first: metrics (every request, the refused ones too), the limit on
connections and requests in flight, HEAD as GET, and the body check (a size cap counted as the body arrives, a
deadline between its pieces, UTF-8), with RequestError and error_response, the JSON error contract."""

import asyncio
import time

from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Histogram

from .protocol import ServerLoad

ROUTES = ("/", "/predict", "/explain", "/info", "/health", "/metrics", "/docs", "/redoc", "/openapi.json")


class RequestError(Exception):
    """A request the server refuses, with its HTTP status and error_type."""

    def __init__(self, status: int, error_type: str, message: str):
        super().__init__(message)
        self.status, self.error_type = status, error_type


def error_response(status: int, error_type: str, message: str, headers=None) -> JSONResponse:
    return JSONResponse({"error": message, "error_type": error_type}, status_code=status, headers=headers)


def make_metrics(registry: CollectorRegistry) -> dict:
    latency_buckets = (.001, .002, .003, .005, .0075, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)
    size_buckets = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
    return {
        "requests": Counter("textrnn_requests", "HTTP requests by route and status", ["route", "status"],
                            registry=registry),
        "latency": Histogram("textrnn_request_duration_seconds", "time from request to response", ["route"],
                             buckets=latency_buckets, registry=registry),
        "batch_texts": Histogram("textrnn_batch_size", "texts per forward pass", buckets=size_buckets,
                                 registry=registry),
        "batch_requests": Histogram("textrnn_batch_requests", "requests per forward pass", buckets=size_buckets,
                                    registry=registry),
    }


class MetricsMiddleware:
    """Counts every request and its latency by route and status, the refused ones included."""

    def __init__(self, app, metrics: dict):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"] if scope["path"] in ROUTES else "other"  # unknown paths must not grow the labels
        status = 500
        started = time.perf_counter()

        async def send_with_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.metrics["latency"].labels(route).observe(time.perf_counter() - started)
            self.metrics["requests"].labels(route, str(status)).inc()


class ConcurrencyLimitMiddleware:
    """Answers 503 at once, before reading the body, while the server holds settings.max_connections open
    connections or requests in flight (those of clients that went away count until they finish), so that a crowd
    is told to come back instead of piling up work and memory."""

    def __init__(self, app, load: ServerLoad, limit: int):
        self.app, self.load, self.limit = app, load, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.load.connections > self.limit or self.load.requests >= self.limit:
            response = error_response(503, "overloaded", f"the server holds {self.limit:,} connections or requests "
                                      "already, its limit: try again shortly", headers={"connection": "close",
                                                                                        "retry-after": "1"})
            return await response(scope, receive, send)
        self.load.requests += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.load.requests -= 1


class HeadAsGetMiddleware:
    """HEAD wherever GET works: the app answers a GET, the client gets its status and headers without the body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def send_without_body(message):
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)


class BodyCheckMiddleware:
    """Reads a request's body with a cap (Content-Length is not trusted) and a deadline between two pieces, and
    refuses one that is not UTF-8, before FastAPI parses it; the app then reads the same bytes."""

    def __init__(self, app, max_bytes: int, timeout_s: float):
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        try:
            body = await self.read_body(scope, receive)
        except RequestError as refusal:  # the body is not all read: the connection cannot carry another request
            response = error_response(refusal.status, refusal.error_type, str(refusal), headers={"connection": "close"})
            return await response(scope, receive, send)
        if body is None:
            return  # the client went away: nobody to answer
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as error:
            response = error_response(400, "invalid_encoding", f"the request body is not valid UTF-8: byte "
                                      f"{body[error.start]:#04x} at position {error.start}; send JSON in UTF-8")
            return await response(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def read_body(self, scope, receive) -> bytes | None:
        """The whole body, None if the client went away; a RequestError past the size cap or the deadline."""
        too_large = RequestError(413, "body_too_large", f"the request body is over the limit of {self.max_bytes:,} "
                                 "bytes (textrnn serve --max-body-bytes)")
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise too_large
        chunks, size, more = [], 0, True
        while more:
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except asyncio.TimeoutError:  # the builtin TimeoutError from Python 3.11 on
                raise RequestError(408, "body_timeout", f"the request body stalled: nothing came for "
                                   f"{self.timeout_s:g} s") from None
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                raise too_large
            more = message.get("more_body", False)
        return b"".join(chunks)
