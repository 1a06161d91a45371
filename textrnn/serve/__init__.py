"""`textrnn serve MODEL_DIR`: an HTTP server for one saved model, on FastAPI and uvicorn.

The rooms: settings.py (ServeSettings and the checks of serve's options), protocol.py (the guarded httptools
protocol, the connection count, errors written as raw bytes), middleware.py (metrics, the concurrency limit,
HEAD as GET, the body check), schemas.py (the request and response models), app.py (the error contract,
create_app, its routes, serve() and a worker's life), workers.py (the worker processes of --workers N), docs.py
(/docs and /redoc without outside requests), server.py (binding the
socket, the uvicorn server), batcher.py (dynamic batching) and static/index.html (the self-contained page).
"""

from ..errors import TextRNNError

try:  # the `serve` extra, checked once here: the modules below import it freely
    import fastapi  # noqa: F401
    import prometheus_client  # noqa: F401
    import pydantic  # noqa: F401
    import uvicorn  # noqa: F401
    from uvicorn.protocols.http import httptools_impl  # noqa: F401
except ImportError as error:
    raise TextRNNError(f"textrnn serve needs FastAPI, uvicorn, httptools and prometheus-client ({error}): "
                       "pip install 'textrnn[serve]'") from None

from .app import create_app, serve  # noqa: E402
from .schemas import TextResult  # noqa: E402
from .settings import ServeSettings  # noqa: E402

__all__ = ["ServeSettings", "TextResult", "create_app", "serve"]
