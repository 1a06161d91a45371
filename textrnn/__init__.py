"""textrnn: train, evaluate and serve recurrent (LSTM, GRU, RNN) text classifiers."""

from .version import __version__

from .inference import TextClassifier, classify_text, load
from .explain import explain  # textrnn.explain is now this function; `from textrnn.explain import ...` still works

__all__ = ["TextClassifier", "__version__", "classify_text", "explain", "load"]
