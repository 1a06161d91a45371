"""The package version: one place, imported by the package, the model files it writes and the server."""

__version__ = "0.1.0"
