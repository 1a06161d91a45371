"""`textrnn serve MODEL_DIR`: an HTTP server for one saved model, on FastAPI and uvicorn.

    textrnn serve runs/sst2                      # http://127.0.0.1:8080, the page at /, OpenAPI at /docs
    curl -s localhost:8080/predict -H 'content-type: application/json' -d '{"inputs": "a gorgeous, witty film"}'

Routes are shaped like Hugging Face's text-embeddings-inference: POST /predict {"inputs": str | [str], "top_k"}
answers in classify_text's shapes; POST /explain, GET /info, /health, /metrics (Prometheus), / (the page).
Concurrent /predict requests share forward passes (batcher.Batcher). Every mistake in a request is a JSON
{"error", "error_type"} with its status, and the server goes on serving.

Against clients that stall or send junk (GuardedHttpToolsProtocol, ConcurrencyLimitMiddleware): a deadline for a
request's line and headers and a cap on their size, a deadline between two pieces of a body, a cap on open
connections and requests in flight, and uvicorn's own 400 in the same JSON contract. serve() checks every
setting and binds its port before the model loads, so a mistake costs one line and no wait.
"""

import asyncio
import errno
import json
import math
import socket
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from importlib.resources import files
from typing import Annotated, Literal

from ..version import __version__
from ..errors import ConfigError, InputError, TextRNNError
from ..inference import TextClassifier, check_texts, classify_text, load
from .batcher import Batcher, BatcherStopped

try:
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
    from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
    from starlette.exceptions import HTTPException
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError as error:
    raise TextRNNError(f"textrnn serve needs FastAPI, uvicorn, httptools and prometheus-client ({error}): "
                       "pip install 'textrnn[serve]'") from None

ROUTES = ("/", "/predict", "/explain", "/info", "/health", "/metrics", "/docs", "/openapi.json")


@dataclass
class ServeSettings:
    batching: bool = True
    max_batch_size: int = 32  # texts per forward pass
    batch_wait_ms: float = 2.0  # how long a batch may wait for more requests
    max_body_bytes: int = 1_000_000
    max_inputs: int = 256  # texts per request
    # the connection limits, for Python callers and tests (no flags): a client that stalls is cut off, not waited for
    max_connections: int = 512  # open connections, and requests in flight; past it a request gets a 503 at once
    header_timeout_s: float = 10.0  # from a connection's start, or a request's first byte, to its last header
    body_timeout_s: float = 30.0  # the longest pause between two pieces of a request's body
    keep_alive_s: float = 5.0  # an idle connection between two requests is closed after this
    max_header_bytes: int = 65_536  # a request's line and headers together

    def check(self) -> None:
        """A ConfigError naming the flag (or the field) of the first setting that cannot work: a NaN or infinite
        wait would make every batch wait forever while /health still answers."""
        if not isinstance(self.batching, bool):
            raise ConfigError(f"ServeSettings.batching must be True or False, got {self.batching!r}")
        for name, (low, high) in WHOLE_NUMBER_LIMITS.items():
            check_whole_number(setting_name(name), getattr(self, name), low, high)
        for name, (low, high) in NUMBER_LIMITS.items():
            check_number(setting_name(name), getattr(self, name), low, high)


# each setting's bounds: far beyond what a server needs, close enough to catch a typo or a unit mistake
WHOLE_NUMBER_LIMITS = {"max_batch_size": (1, 4096), "max_body_bytes": (1, 1_000_000_000), "max_inputs": (1, 100_000),
                       "max_connections": (1, 100_000), "max_header_bytes": (1024, 1_048_576)}
NUMBER_LIMITS = {"batch_wait_ms": (0, 1000), "header_timeout_s": (0.01, 3600), "body_timeout_s": (0.01, 3600),
                 "keep_alive_s": (0.01, 3600)}
FLAGS = {"max_batch_size": "--max-batch-size", "batch_wait_ms": "--batch-wait-ms", "max_body_bytes": "--max-body-bytes",
         "max_inputs": "--max-inputs"}
MAX_THREADS = 256


def setting_name(name: str) -> str:
    return FLAGS.get(name, f"ServeSettings.{name}")


def check_whole_number(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low:,} to {high:,}, got {value!r}")


def check_number(name: str, value, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ConfigError(f"{name} must be a finite number from {low:g} to {high:g}, got {value!r}")


class RequestError(Exception):
    """A request the server refuses, with its HTTP status and error_type."""

    def __init__(self, status: int, error_type: str, message: str):
        super().__init__(message)
        self.status, self.error_type = status, error_type


def error_response(status: int, error_type: str, message: str, headers=None) -> JSONResponse:
    return JSONResponse({"error": message, "error_type": error_type}, status_code=status, headers=headers)


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


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: StrictStr | list[StrictStr]
    top_k: Annotated[StrictInt, Field(ge=1)] | Literal["auto"] | None = Field(
        "auto", description="labels per text, highest first; null for every label; auto (the default): 1 for a "
        "single-label model, every label's score for a multi-label one")


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: StrictStr
    label: StrictStr | None = Field(None, description="the label to explain; the predicted one by default")
    method: StrictStr | None = None


class LabelScore(BaseModel):
    label: str
    score: float


class MultiLabelResult(BaseModel):
    labels: list[str]
    scores: list[LabelScore]


TextResult = LabelScore | list[LabelScore] | MultiLabelResult


class Info(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    labels: list[str]
    problem_type: str
    max_length: int
    tokenizer: str
    textrnn_version: str
    model_textrnn_version: str | None
    model_settings: dict
    batching: dict


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


def describe_validation_error(error: RequestValidationError) -> tuple[int, str, str]:
    problems = []
    for item in error.errors():
        if item["type"] == "json_invalid":
            return 400, "invalid_json", f"the request body is not valid JSON: {item.get('ctx', {}).get('error', '')}"
        where = ".".join(str(part) for part in item["loc"] if part != "body") or "body"
        problems.append(f"{where}: {item['msg']}")
    return 422, "validation_error", "; ".join(problems)


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError):
        status, error_type, message = describe_validation_error(error)
        if "json" not in request.headers.get("content-type", "json"):  # curl -d sends a form's type
            message += f"; send the body as JSON with Content-Type: application/json, not " \
                       f"{request.headers['content-type']}"
        return error_response(status, error_type, message)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, error: RequestError):
        return error_response(error.status, error.error_type, str(error))

    @app.exception_handler(TextRNNError)
    async def input_error(request: Request, error: TextRNNError):
        return error_response(422, "invalid_input", str(error))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        return error_response(error.status_code, "http_error", str(error.detail), headers=error.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception):  # a bug: uvicorn still logs its traceback
        return error_response(500, "internal_error", f"the server failed on this request ({type(error).__name__}); "
                              "its log has the details")


def checked_inputs(inputs: str | list[str], max_inputs: int) -> tuple[list[str], bool]:
    """check_texts' (texts, single), its errors naming the field, and the limit on texts per request."""
    if isinstance(inputs, list) and len(inputs) > max_inputs:
        raise RequestError(413, "too_many_inputs", f"inputs has {len(inputs)} texts, over the limit of {max_inputs} "
                           "(textrnn serve --max-inputs): send them in several requests")
    try:
        return check_texts(inputs)
    except TextRNNError as error:
        raise InputError(f"inputs: {error}") from None


def create_app(classifier: TextClassifier, settings: ServeSettings | None = None) -> FastAPI:
    """The server's ASGI app for one loaded model; each app has its own metrics registry. app.state holds the
    batcher and the ServerLoad that make_server's protocol counts connections in."""
    settings = settings or ServeSettings()
    settings.check()
    registry = CollectorRegistry()
    metrics = make_metrics(registry)

    def record_batch(texts: int, requests: int) -> None:
        metrics["batch_texts"].observe(texts)
        metrics["batch_requests"].observe(requests)

    batcher = Batcher(classifier, settings.max_batch_size, settings.batch_wait_ms, record_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="textrnn", version=__version__, lifespan=lifespan,
                  description="A recurrent text classifier: " + ", ".join(classifier.labels))
    app.state.batcher, app.state.load = batcher, ServerLoad()
    add_error_handlers(app)
    # the last added is the outermost: metrics see every refusal, the limit comes before any body is read
    app.add_middleware(BodyCheckMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    app.add_middleware(ConcurrencyLimitMiddleware, load=app.state.load, limit=settings.max_connections)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    add_model_routes(app, classifier, settings, batcher, record_batch)
    add_service_routes(app, classifier, settings, registry)
    return app


def add_model_routes(app: FastAPI, classifier: TextClassifier, settings: ServeSettings, batcher: Batcher,
                     record_batch) -> None:
    """POST /predict and /explain: the model's answers."""

    @app.post("/predict", response_model=TextResult | list[TextResult])
    async def predict(request: PredictRequest):
        texts, single = checked_inputs(request.inputs, settings.max_inputs)
        if not texts:
            return JSONResponse([])
        if settings.batching:
            try:
                results = await batcher.classify(texts, request.top_k)
            except BatcherStopped as error:
                raise RequestError(503, "unavailable", str(error)) from None
        else:
            results = await asyncio.to_thread(classify_text, texts, classifier, request.top_k)
            record_batch(len(texts), 1)
        # the results are classify_text's, already in the declared shape: sent as they are, not validated again
        return JSONResponse(results[0] if single else results)

    @app.post("/explain")
    async def explain(request: ExplainRequest) -> dict:
        from ..explain import explain as explain_text

        options = {"label": request.label} | ({"method": request.method} if request.method else {})
        text = checked_inputs(request.inputs, 1)[0][0]
        return await asyncio.to_thread(explain_text, text, classifier, **options)


def add_service_routes(app: FastAPI, classifier: TextClassifier, settings: ServeSettings,
                       registry: CollectorRegistry) -> None:
    """GET /info, /health, /metrics and the page at /."""
    page = files("textrnn.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.get("/info")
    async def info() -> Info:
        config = classifier.config
        return Info(labels=classifier.labels, problem_type=classifier.task.problem_type,
                    max_length=classifier.tokenizer_config.max_length, tokenizer=classifier.tokenizer_config.kind,
                    textrnn_version=__version__, model_textrnn_version=config.get("textrnn_version"),
                    model_settings=config.get("model", {}), batching={"enabled": settings.batching,
                                                              "max_batch_size": settings.max_batch_size,
                                                              "batch_wait_ms": settings.batch_wait_ms})

    @app.get("/health")
    async def health() -> dict:
        if settings.batching and not app.state.batcher.running:  # else /predict could not answer
            raise RequestError(503, "unavailable", "the batching worker is not running")
        return {"status": "ok"}

    @app.get("/metrics")
    async def prometheus_metrics():
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse)
    async def index():
        return page


def check_serve_options(host, port, threads: int, settings: ServeSettings) -> None:
    """A ConfigError naming the flag, before anything slow happens."""
    if not isinstance(host, str) or not host.strip():
        raise ConfigError(f"--host must be an address or a host name (127.0.0.1, 0.0.0.0 for every IPv4 interface, "
                          f":: for IPv6), got {host!r}")
    check_whole_number("--port", port, 0, 65535)  # 0: a free port chosen by the system, announced
    check_whole_number("--threads", threads, 1, MAX_THREADS)
    settings.check()


BIND_ERRORS = {  # errno: what it means for serve's flags
    errno.EADDRINUSE: "--port {port}: {address} is already in use (another server listens there); pick another "
                      "port, or --port 0 for a free one",
    errno.EACCES: "--port {port}: not permitted to listen on {address} (ports below 1024 need privileges)",
    errno.EADDRNOTAVAIL: "--host {host}: {address} is not an address of this machine",
}


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, made here rather than by uvicorn so that a port in use or a wrong host is
    one clear error before the model loads, and the address announced is the one bound (a real port for 0)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as error:
        raise ConfigError(f"--host {host}: not an address, and not a name this machine can resolve ({error})") \
            from None
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart need not wait
        listener.bind(address)
        listener.listen(2048)  # uvicorn's default backlog
    except OSError as error:
        listener.close()
        shown = f"[{address[0]}]:{address[1]}" if family == socket.AF_INET6 else f"{address[0]}:{address[1]}"
        message = BIND_ERRORS.get(error.errno, "--host {host} --port {port}: cannot listen on {address} ({error})")
        raise ConfigError(message.format(host=host, port=port, address=shown, error=error.strerror)) from None
    return listener


def listener_url(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if listener.family == socket.AF_INET6 else f"http://{host}:{port}"


def make_server(app: FastAPI, settings: ServeSettings, access_log: bool = True) -> "uvicorn.Server":
    """A uvicorn server for create_app's app, with the guarded protocol; run it with .run(sockets=[listener])."""
    protocol = type("ServeProtocol", (GuardedHttpToolsProtocol,), {"settings": settings, "load": app.state.load})
    config = uvicorn.Config(app, http=protocol, ws="none",  # no WebSocket routes, so no protocol switching either
                            access_log=access_log, timeout_keep_alive=settings.keep_alive_s,
                            timeout_graceful_shutdown=30)
    return uvicorn.Server(config)


def serve(model_dir, host: str = "127.0.0.1", port: int = 8080, settings: ServeSettings | None = None,
          device: str = "cpu", threads: int = 1, access_log: bool = True) -> None:
    """Check every option and bind the port, load the model, then serve it until SIGINT or SIGTERM, which let the
    requests in flight finish.

    One PyTorch thread by default: the event loop needs a core of its own, a serving-size batch gains little from
    more, and a team of OpenMP threads stalls for whole time slices when other processes share the cores (measured
    here: a one-sentence pass of 1.8 ms took 150 to 550 ms with 2 threads on 2 busy cores).
    """
    settings = settings or ServeSettings()
    check_serve_options(host, port, threads, settings)
    listener = bind_listener(host, port)
    try:
        import torch

        torch.set_num_threads(threads)
        app = create_app(load(model_dir, device=device), settings)
        print(f"textrnn serve: {model_dir} on {listener_url(listener)} (the page at /, OpenAPI at /docs)", flush=True)
        make_server(app, settings, access_log).run(sockets=[listener])
    finally:
        listener.close()
