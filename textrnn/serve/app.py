"""The server's app for one loaded model: the request and response models, the JSON error contract, create_app and
its routes, and serve(), which checks every option, binds the port, loads the model and runs it, in this process
or in N worker processes that share the port (workers.py runs them, run_worker is each one's life).

    textrnn serve runs/sst2                      # http://127.0.0.1:8080, the page at /, OpenAPI at /docs
    curl -s localhost:8080/predict -H 'content-type: application/json' -d '{"inputs": "a gorgeous, witty film"}'

Routes are shaped like Hugging Face's text-embeddings-inference: POST /predict {"inputs": str | [str], "top_k"}
answers in classify_text's shapes; POST /explain, GET /info, /health, /metrics (Prometheus), / (the page).
Concurrent /predict requests share forward passes (batcher.Batcher). Every mistake in a request is a JSON
{"error", "error_type"} with its status, and the server goes on serving.

Against clients that stall or send junk (protocol.GuardedHttpToolsProtocol, middleware.ConcurrencyLimitMiddleware):
a deadline for a request's line and headers and a cap on their size, a deadline between two pieces of a body, a cap
on open connections and requests in flight, and uvicorn's own 400 in the same JSON contract. serve() checks
every setting and binds its port before the model loads, so a mistake costs one line and no wait.
"""

import asyncio
import os
import signal
import socket
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files

import torch

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.exceptions import HTTPException

from ..errors import InputError, TextRNNError
from ..inference import TextClassifier, check_texts, classify_text, load
from ..version import __version__
from .batcher import Batcher, BatcherStopped
from .middleware import (BodyCheckMiddleware, ConcurrencyLimitMiddleware, HeadAsGetMiddleware, MetricsMiddleware,
                         RequestError, error_response, make_metrics)
from .docs import SAME_ORIGIN_ONLY, add_docs_routes
from .protocol import ServerLoad
from .schemas import ExplainRequest, Info, PredictRequest, TextResult
from .server import bind_listener, listener_url, make_server
from .settings import MULTIPROC_DIR, ServeSettings, check_serve_options
from .workers import serve_workers


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

    app = FastAPI(title="textrnn", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="A recurrent text classifier: " + ", ".join(classifier.labels))  # docs: docs.py
    app.state.batcher, app.state.load = batcher, ServerLoad()
    add_error_handlers(app)
    # the last added is the outermost: metrics see every refusal, the limit comes before any body is read
    app.add_middleware(BodyCheckMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    app.add_middleware(ConcurrencyLimitMiddleware, load=app.state.load, limit=settings.max_connections)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    add_model_routes(app, classifier, settings, batcher, record_batch)
    add_service_routes(app, classifier, settings, registry)
    add_docs_routes(app)
    return app


def add_model_routes(app: FastAPI, classifier: TextClassifier, settings: ServeSettings, batcher: Batcher,
                     record_batch) -> None:
    """POST /predict and /explain: the model's answers."""

    @app.post("/predict", response_model=TextResult | list[TextResult])
    async def predict(request: PredictRequest):
        texts, single = checked_inputs(request.inputs, settings.max_inputs)
        if not texts:
            return JSONResponse([])
        top_k, threshold = request.options()
        if settings.batching:
            try:
                results = await batcher.classify(texts, top_k, threshold)
            except BatcherStopped as error:
                raise RequestError(503, "unavailable", str(error)) from None
        else:
            results = await asyncio.to_thread(classify_text, texts, classifier, top_k, threshold=threshold)
            record_batch(len(texts), 1)
        # the results are classify_text's, already in the declared shape: sent as they are, not validated again
        return JSONResponse(results[0] if single else results)

    @app.post("/explain")
    async def explain(request: ExplainRequest) -> dict:
        from ..explanations import explain as explain_text

        text = checked_inputs(request.inputs, 1)[0][0]
        # without a method, the model's own: occlusion for an ONNX export, which has no gradients for IG
        return await asyncio.to_thread(explain_text, text, classifier, label=request.label,
                                       method=request.method or None)


def add_service_routes(app: FastAPI, classifier: TextClassifier, settings: ServeSettings,
                       registry: CollectorRegistry) -> None:
    """GET /info, /health, /metrics and the page at /."""
    page = files("textrnn.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    thresholds = classifier.thresholds  # None for a single-label model
    if thresholds is not None:
        thresholds = {label: float(threshold) for label, threshold in zip(classifier.labels, thresholds)}

    @app.get("/info")
    async def info() -> Info:
        config = classifier.config
        return Info(labels=classifier.labels, problem_type=classifier.task.problem_type, thresholds=thresholds,
                    max_length=classifier.tokenizer_config.max_length, tokenizer=classifier.tokenizer_config.kind,
                    textrnn_version=__version__, model_textrnn_version=config.get("textrnn_version"),
                    engine=classifier.engine,
                    model_settings=config.get("model", {}), batching={"enabled": settings.batching,
                                                              "max_batch_size": settings.max_batch_size,
                                                              "batch_wait_ms": settings.batch_wait_ms})

    @app.get("/health")
    async def health() -> dict:
        if settings.batching and not app.state.batcher.running:  # else /predict could not answer
            raise RequestError(503, "unavailable", "the batching worker is not running")
        # which process answered: with --workers N, load balancers and tests can tell the workers apart
        return JSONResponse({"status": "ok"}, headers={"x-textrnn-worker-pid": str(os.getpid())})

    @app.get("/metrics")
    async def prometheus_metrics():
        if os.environ.get(MULTIPROC_DIR):  # --workers N: every worker's counts, added up (workers.py)
            collected = CollectorRegistry()
            multiprocess.MultiProcessCollector(collected)
            return Response(generate_latest(collected), media_type=CONTENT_TYPE_LATEST)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse)
    async def index():
        return HTMLResponse(page, headers=SAME_ORIGIN_ONLY)


def serve(model_dir, host: str = "127.0.0.1", port: int = 8080, settings: ServeSettings | None = None,
          device: str = "cpu", threads: int = 1, access_log: bool = True, engine: str = "auto",
          workers: int = 1) -> None:
    """Check every option and bind the port, load the model, then serve it until SIGINT or SIGTERM, which let the
    requests in flight finish. engine: textrnn.load's ("auto", "torch" or "onnx"); workers: processes sharing
    the port, each with its own model (workers.py).

    One PyTorch thread by default: the event loop needs a core of its own, a serving-size batch gains little from
    more, and a team of OpenMP threads stalls for whole time slices when other processes share the cores (measured
    here: a one-sentence pass of 1.8 ms took 150 to 550 ms with 2 threads on 2 busy cores).
    """
    settings = settings or ServeSettings()
    check_serve_options(host, port, threads, settings, engine=engine, workers=workers)
    listener = bind_listener(host, port)

    def announce(engines: list[str]) -> None:
        running = engines[0] if len(set(engines)) == 1 else "; ".join(engines)
        processes = f"{workers} workers, " if workers > 1 else ""
        print(f"textrnn serve: {model_dir} on {listener_url(listener)} (the page at /, OpenAPI at /docs; "
              f"{processes}{running})", flush=True)

    try:
        if workers > 1:
            options = WorkerOptions(str(model_dir), settings, device, threads, access_log, engine)
            return serve_workers(run_worker, options, listener, workers, announce)
        classifier, server = build_server(WorkerOptions(str(model_dir), settings, device, threads, access_log,
                                                        engine))
        announce([describe_engine(classifier)])
        server.run(sockets=[listener])
    finally:
        listener.close()


@dataclass
class WorkerOptions:
    model_dir: str
    settings: ServeSettings
    device: str
    threads: int
    access_log: bool
    engine: str


def build_server(options: WorkerOptions):
    """(the loaded classifier, its uvicorn server): what one server process, or each worker, runs."""
    torch.set_num_threads(options.threads)
    classifier = load(options.model_dir, device=options.device, engine=options.engine, prefer_onnx=True)
    app = create_app(classifier, options.settings)
    return classifier, make_server(app, options.settings, options.access_log)


def run_worker(options: WorkerOptions, listener: socket.socket, reports) -> None:
    """One worker process: load the model, say so on `reports`, serve from the shared listener until stopped."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops the workers
    try:
        classifier, server = build_server(options)
    except TextRNNError as error:
        reports.put(("failed", os.getpid(), " ".join(str(error).split())))
        sys.exit(2)
    except BaseException as error:
        reports.put(("failed", os.getpid(), f"internal error ({type(error).__name__}: {error})"))
        raise
    reports.put(("ready", os.getpid(), describe_engine(classifier)))
    server.run(sockets=[listener])


def describe_engine(classifier) -> str:
    return f"engine {classifier.engine}" + (f" ({classifier.engine_note})" if classifier.engine_note else "")
