"""`textrnn serve MODEL_DIR`: an HTTP server for one saved model (app.py), with dynamic batching (batcher.py) and
a self-contained page (static/index.html)."""

from .app import ServeSettings, TextResult, create_app, serve

__all__ = ["ServeSettings", "TextResult", "create_app", "serve"]
