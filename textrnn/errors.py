"""Errors that are the user's to fix: the command line prints them as one line and exits 2.

Anything else that escapes the command line is a bug in textrnn (or below it): it keeps its traceback.
The subclasses that stand for a bad value or type are also ValueError or TypeError, so Python callers
can catch them the usual way.
"""


class TextRNNError(Exception):
    """Base class for problems with the user's input, data, model directory or options."""


class ConfigError(TextRNNError, ValueError):
    """A setting (a flag, a TrainConfig field, an argument) has a value that cannot work."""


class InputError(TextRNNError, ValueError):
    """A text given to classify is not something the model can read (a lone surrogate, say)."""


class InputTypeError(TextRNNError, TypeError):
    """What was given to classify is not text."""


class DataError(TextRNNError, ValueError):
    """The data cannot be loaded or does not fit a text classification task."""


class ModelDirError(TextRNNError, ValueError):
    """A saved model directory is missing a file, is damaged, or disagrees with itself."""


class NonFiniteLossError(TextRNNError):
    """Training produced a NaN or infinite loss or gradient: it stops, keeping the last good checkpoint."""


class StudyError(TextRNNError):
    """`textrnn tune`'s study cannot be opened or continued: an unreachable storage, or a study of other data."""
