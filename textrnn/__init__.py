"""textrnn: train, evaluate and serve recurrent (LSTM, GRU, RNN) text classifiers.

    import textrnn
    model = textrnn.load("runs/sst2")
    textrnn.classify_text("a gorgeous, witty film", model)
    textrnn.explain("a gorgeous, witty film", model)
"""

from .version import __version__

__all__ = ["TextClassifier", "__version__", "classify_text", "explain", "load"]
# The Python API needs PyTorch, which takes seconds to import: it is imported when first used, so that the command
# line (`textrnn --help`, argparse's errors) answers at once.
API = {"TextClassifier": "inference", "classify_text": "inference", "load": "inference", "explain": "explanations"}


def __getattr__(name: str):
    if name not in API:
        raise AttributeError(f"module 'textrnn' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{API[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(API))
