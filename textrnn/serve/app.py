"""`textrnn serve MODEL_DIR`: an HTTP server for one saved model, on FastAPI and uvicorn.

    textrnn serve runs/sst2                      # http://127.0.0.1:8080, the page at /, OpenAPI at /docs
    curl -s localhost:8080/predict -H 'content-type: application/json' -d '{"inputs": "a gorgeous, witty film"}'

Routes are shaped like Hugging Face's text-embeddings-inference: POST /predict {"inputs": str | [str], "top_k"}
answers in classify_text's shapes; POST /explain, GET /info, /health, /metrics (Prometheus), / (the page).
Concurrent /predict requests share forward passes (batcher.Batcher). Every mistake in a request is a JSON
{"error", "error_type"} with its status, and the server goes on serving.
"""

import asyncio
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from typing import Annotated, Literal

from ..version import __version__
from ..errors import InputError, TextRNNError
from ..inference import TextClassifier, check_texts, classify_text, load
from .batcher import Batcher

try:
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
    from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
    from starlette.exceptions import HTTPException
except ImportError as error:
    raise TextRNNError(f"textrnn serve needs FastAPI, uvicorn and prometheus-client ({error}): "
                       "pip install 'textrnn[serve]'") from None

ROUTES = ("/", "/predict", "/explain", "/info", "/health", "/metrics", "/docs", "/openapi.json")


@dataclass
class ServeSettings:
    batching: bool = True
    max_batch_size: int = 32  # texts per forward pass
    batch_wait_ms: float = 2.0  # how long a batch may wait for more requests
    max_body_bytes: int = 1_000_000
    max_inputs: int = 256  # texts per request


class RequestError(Exception):
    """A request the server refuses, with its HTTP status and error_type."""

    def __init__(self, status: int, error_type: str, message: str):
        super().__init__(message)
        self.status, self.error_type = status, error_type


def error_response(status: int, error_type: str, message: str, headers=None) -> JSONResponse:
    return JSONResponse({"error": message, "error_type": error_type}, status_code=status, headers=headers)


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


class BodyCheckMiddleware:
    """Reads a request's body with a cap (Content-Length is not trusted) and refuses one that is not UTF-8,
    before FastAPI parses it; the app then reads the same bytes."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        too_large = error_response(413, "body_too_large", f"the request body is over the limit of {self.max_bytes:,} "
                                   "bytes (textrnn serve --max-body-bytes)", headers={"connection": "close"})
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await too_large(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away: nobody to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await too_large(scope, receive, send)
            more = message.get("more_body", False)
        body = b"".join(chunks)
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
    """The server's ASGI app for one loaded model; each app has its own metrics registry."""
    settings = settings or ServeSettings()
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
    add_error_handlers(app)
    app.add_middleware(BodyCheckMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # added last, so outermost: it sees the refusals too
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
            results = await batcher.classify(texts, request.top_k)
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
        return {"status": "ok"}

    @app.get("/metrics")
    async def prometheus_metrics():
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse)
    async def index():
        return page


def serve(model_dir, host: str = "127.0.0.1", port: int = 8080, settings: ServeSettings | None = None,
          device: str = "cpu", threads: int = 1, access_log: bool = True) -> None:
    """Load the model, then serve it until SIGINT or SIGTERM, which let the requests in flight finish.

    One PyTorch thread by default: the event loop needs a core of its own, a serving-size batch gains little from
    more, and a team of OpenMP threads stalls for whole time slices when other processes share the cores (measured
    here: a one-sentence pass of 1.8 ms took 150 to 550 ms with 2 threads on 2 busy cores).
    """
    settings = settings or ServeSettings()
    if threads < 1:
        raise TextRNNError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)
    for name in ("max_batch_size", "max_body_bytes", "max_inputs"):
        if getattr(settings, name) < 1:
            raise TextRNNError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(settings, name)}")
    if settings.batch_wait_ms < 0:
        raise TextRNNError(f"--batch-wait-ms must be 0 or more, got {settings.batch_wait_ms}")
    app = create_app(load(model_dir, device=device), settings)
    print(f"textrnn serve: {model_dir} on http://{host}:{port} (the page at /, OpenAPI at /docs)", flush=True)
    uvicorn.run(app, host=host, port=port, access_log=access_log, timeout_graceful_shutdown=30)
