"""Errors that are the user's to fix: the command line prints them as one line and exits 2."""


class TextRNNError(Exception):
    """Base class for problems with the user's input, data, model directory or options."""


class DataError(TextRNNError, ValueError):
    """The data cannot be loaded or does not fit a text classification task."""


class ModelDirError(TextRNNError, ValueError):
    """A saved model directory is missing a file, is damaged, or disagrees with itself."""


class NonFiniteLossError(TextRNNError):
    """Training produced a NaN or infinite loss or gradient: it stops, keeping the last good checkpoint."""
