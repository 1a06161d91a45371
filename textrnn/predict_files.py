"""Files in, files out: a saved model's predictions for every row of a file or a data set split, streamed.

    predict_file("runs/sst2", "reviews.parquet", "predictions.parquet")   # what `textrnn predict --input` runs
    dataset.map(BatchPredictor("runs/sst2"), batched=True, num_proc=4)    # the same columns, in Python

Inputs: csv, tsv, json lines (.jsonl, or .json with one object per line; a .json holding one array is read whole),
parquet and plain text (.txt, one text per line), or a split of a data set (textrnn.data.load_splits). They are
read chunk by chunk (the stdlib csv module, line by line, pyarrow's ParquetFile.iter_batches, Dataset.iter), each
chunk classified by classify_text and written at once (csv writer, JSON lines, pyarrow's ParquetWriter), so memory
stays flat however many rows there are. A file is written under a temporary name and renamed into place when
every row is in: a failed or interrupted run leaves no half file.

The columns (the same in every format; docs/predicting.md): an id (the input's --id-column, else `row`, the row
number from 0), the text if asked, then those of classify_text's results, made by `tabulate` from what the task's
format_results gives: `label` and `score` for the best label; `labels` and `scores` lists when a result ranks
several (--top-k above 1); for a result that holds a set of labels with each label's score (a multi-label model),
`labels` (every label passing its threshold) and one `score_<label>` column per label. csv and tsv hold a list as
JSON text (["pos", "neg"]); JSON lines and parquet hold real lists.
"""

import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .errors import ConfigError, DataError
from .inference import LONE_SURROGATE, TextClassifier, classify_text, load
from .tabular_io import (STDOUT, Source, check_output, dataset_source, file_source, opened_writer, prediction_type,
                         resolve_text_column)

CHUNK_SIZE = 8192  # texts read, classified and written at a time (classify_text batches them by length)
PLAIN_PROGRESS_SECONDS = 30.0  # without a terminal: a plain progress line this often
ROW_COLUMN = "row"
# what textrnn.data.check_file_content checks each for ("is gzip-compressed, not comma-separated text"); a csv file
# with a header and no rows is an empty input here, not the error that training makes it


# ----------------------------------------------------------------------------- the prediction columns


def flat_result(result, labels: list[str]) -> dict:
    """One of classify_text's results as a flat record (the module docstring lists the columns)."""
    if isinstance(result, Mapping) and "labels" in result:  # a set of labels, and a score for each label
        scores = {item["label"]: item["score"] for item in result["scores"]}
        return {"labels": list(result["labels"]), **{f"score_{label}": scores.get(label) for label in labels}}
    ranked = [result] if isinstance(result, Mapping) else result
    best = ranked[0] if ranked else {"label": None, "score": None}  # a list can be empty (classify_text's threshold)
    flat = {"label": best["label"], "score": best["score"]}
    if not isinstance(result, Mapping):  # several ranked labels (top_k above 1): all of them, best first
        flat.update(labels=[item["label"] for item in ranked], scores=[item["score"] for item in ranked])
    return flat


def prediction_names(classifier: TextClassifier, top_k) -> list[str]:
    """The prediction columns' names, known before any text is read: those of a result for one made-up row."""
    made_up = np.full((1, len(classifier.labels)), 1 / len(classifier.labels), dtype=np.float32)
    return list(flat_result(classifier.task.format_results(made_up, top_k)[0], classifier.labels))


def tabulate(results: list, labels: list[str], names: list[str]) -> dict[str, list]:
    """classify_text's results as columns: {name: one value per text}."""
    records = [flat_result(result, labels) for result in results]
    return {name: [record[name] for record in records] for name in names}


def check_top_k(top_k) -> None:
    if top_k != "auto" and top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise ConfigError(f"top_k must be a positive int, None (every label) or 'auto', got {top_k!r}")


def check_texts_of(values, start: int, where: str, column: str) -> list[str]:
    """A chunk's texts, each a str: a null, another type or broken Unicode is an error naming its row."""
    values = list(values)
    for offset, text in enumerate(values):
        problem = ("missing (null)" if text is None else None if isinstance(text, str) else
                   f"{type(text).__name__}, not text")
        if problem is None and LONE_SURROGATE.search(text):
            problem = "not valid Unicode (a lone surrogate, from a \\ud800-style JSON escape?)"
        if problem:
            raise DataError(f"{where}, row {start + offset}: the text in column {column!r} is {problem}; "
                            "remove or fill that row")
    return values


class BatchPredictor:
    """`predictor(batch) -> new columns`: a picklable callable for datasets.Dataset.map(batched=True, num_proc=N),
    Ray Data's map_batches and Spark's mapInPandas (docs/predicting.md).

    It holds the model directory's path and loads the model lazily, once in each process that calls it (a pickled
    copy carries no model). batch: a mapping of columns (a dict of lists, a pandas DataFrame, a dict of numpy
    arrays); the result: {column: list}, the columns of `textrnn predict --input`'s output without id and text.
    keep_columns: return the batch's own columns too (a DataFrame for a DataFrame), as Ray's map_batches and Spark's
    mapInPandas want (they keep only what the function returns; Dataset.map keeps them itself).
    threads: PyTorch's threads in each process. By default the process that made the predictor keeps PyTorch's own
    setting and every other process (Dataset.map's num_proc workers, Ray's, Spark's) uses 1: N processes share the
    cores, and a forked process that inherits PyTorch's OpenMP threads hangs on its first parallel operation.
    """

    def __init__(self, model_dir, text_column: str = "text", top_k: int | None | str = "auto",
                 batch_size: int = 256, device: str = "cpu", threads: int | None = None, keep_columns: bool = False):
        check_top_k(top_k)
        self.model_dir = str(model_dir)
        self.text_column, self.top_k, self.batch_size = text_column, top_k, batch_size
        self.device, self.threads, self.keep_columns = device, threads, keep_columns
        self.made_in = os.getpid()  # travels with a pickled copy: a worker knows it is not the first process
        self._classifier = None
        self._names = None

    @property
    def classifier(self) -> TextClassifier:
        if self._classifier is None:
            threads = self.threads or (1 if os.getpid() != self.made_in else None)
            if threads:
                import torch

                torch.set_num_threads(threads)
            self._classifier = load(self.model_dir, device=self.device)
            self._names = prediction_names(self._classifier, self.top_k)
        return self._classifier

    def __call__(self, batch):
        columns = self.predict(batch)
        if not self.keep_columns:
            return columns
        return batch.assign(**columns) if hasattr(batch, "assign") else {**batch, **columns}  # pandas, or a dict

    def predict(self, batch) -> dict[str, list]:
        """The prediction columns of a batch's texts."""
        classifier = self.classifier
        try:
            values = batch[self.text_column]
        except KeyError:
            raise DataError(f"the batch has no column {self.text_column!r} (text_column=); its columns: "
                            f"{', '.join(map(str, batch.keys()))}") from None
        texts = check_texts_of(values, 0, "the batch", self.text_column)
        results = classify_text(texts, classifier, top_k=self.top_k, batch_size=self.batch_size)
        return tabulate(results, classifier.labels, self._names)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_classifier": None, "_names": None}  # each process loads its own

    def __repr__(self) -> str:
        return f"BatchPredictor({self.model_dir!r}, text_column={self.text_column!r}, top_k={self.top_k!r})"


# ----------------------------------------------------------------------------- reading


# ----------------------------------------------------------------------------- progress and signals


class Progress:
    """tqdm with texts/s on a terminal; otherwise a plain line every `every` seconds (none if not enabled)."""

    def __init__(self, total: int | None, enabled: bool = True, stream=None, every: float = PLAIN_PROGRESS_SECONDS):
        self.stream = stream or sys.stderr
        self.enabled, self.every, self.total = enabled, every, total
        self.count, self.started = 0, time.perf_counter()
        self.last_line = self.started
        self.bar = None
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="texts", unit_scale=True, dynamic_ncols=True, file=self.stream)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def update(self, count: int) -> None:
        self.count += count
        if self.bar is not None:
            self.bar.update(count)
        elif self.enabled and time.perf_counter() - self.last_line >= self.every:
            self.last_line = time.perf_counter()
            of = f" of {self.total}" if self.total is not None else ""
            print(f"textrnn predict: {self.count}{of} texts, {self.count / self.seconds:.0f} texts/s",
                  file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM (kill, a job's time limit) raises KeyboardInterrupt while the block runs, so the temporary file is
    removed as it is on Ctrl-C. Only in the main thread, where Python can set signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ----------------------------------------------------------------------------- the whole run


@dataclass
class Plan:
    """What one run reads and writes: the source, its text and id columns, the output's columns."""

    source: Source
    text_column: str
    id_column: str | None
    keep_text: bool
    names: list[str]  # the prediction columns

    @property
    def wanted(self) -> list[str]:
        return list(dict.fromkeys(column for column in (self.id_column, self.text_column) if column))

    @property
    def known_types(self) -> dict:
        """The output columns' parquet types known before any row is read (the id column's where the input has
        types)."""
        types = {name: prediction_type(name) for name in self.names}
        if self.keep_text:
            types[self.text_column] = pa.string()
        if self.id_column in self.source.arrow_types:
            types[self.id_column] = self.source.arrow_types[self.id_column]
        return types

    @property
    def output_names(self) -> list[str]:
        return [self.id_column or ROW_COLUMN, *([self.text_column] if self.keep_text else []), *self.names]


def make_plan(source: Source, classifier: TextClassifier, text_column, id_column, keep_text: bool, top_k) -> Plan:
    text = resolve_text_column(source, text_column, classifier.config.get("text_column"))
    if id_column is not None and id_column not in source.columns:
        raise DataError(f"{source.name}: no column {id_column!r} (--id-column); its columns: "
                        f"{', '.join(source.columns)}")
    plan = Plan(source, text, id_column, keep_text, prediction_names(classifier, top_k))
    kept = plan.output_names[: -len(plan.names)]
    clashes = [name for name in kept if name in plan.names] + ([text] if keep_text and id_column == text else [])
    if clashes:
        raise DataError(f"{source.name}: the output would have two columns named {clashes[0]!r} (the id, the kept "
                        f"text and the predictions: {', '.join(plan.names)}); give another --id-column")
    return plan


def run_plan(plan: Plan, classifier: TextClassifier, output: str, top_k, batch_size: int, chunk_size: int,
             progress: Progress) -> int:
    """Read, classify and write chunk by chunk; the number of rows written."""
    start = 0
    with opened_writer(output, plan.output_names, plan.known_types) as writer:
        for chunk in plan.source.read(plan.wanted, chunk_size):
            texts = check_texts_of(chunk[plan.text_column], start, plan.source.name, plan.text_column)
            results = classify_text(texts, classifier, top_k=top_k, batch_size=batch_size)
            ids = chunk[plan.id_column] if plan.id_column else list(range(start, start + len(texts)))
            kept = {plan.id_column or ROW_COLUMN: ids, **({plan.text_column: texts} if plan.keep_text else {})}
            writer.write({**kept, **tabulate(results, classifier.labels, plan.names)})
            start += len(texts)
            progress.update(len(texts))
    return start


def predict_file(model, input=None, output: str = STDOUT, *, dataset: str | None = None, split: str = "test",
                 text_column: str | None = None, id_column: str | None = None, keep_text: bool = False,
                 top_k: int | None | str = "auto", batch_size: int = 256, chunk_size: int = CHUNK_SIZE,
                 force: bool = False, device: str = "cpu", progress: bool = True) -> dict:
    """Classify every row of `input` (a file) or of `dataset`'s `split`, and write the predictions to `output`
    (a .csv, .tsv, .jsonl/.json or .parquet file, or "-": JSON lines on stdout). model: a TextClassifier or a
    model directory (loaded after the output and input are checked). Returns {"rows", "seconds", "output"}."""
    if (input is None) == (dataset is None):
        raise ConfigError("give an input file or a dataset (with its split), one of them")
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive int, got {chunk_size!r}")
    check_top_k(top_k)
    check_output(output, force, input)
    source = file_source(input) if input is not None else dataset_source(dataset, split)
    classifier = model if isinstance(model, TextClassifier) else load(model, device=device)
    plan = make_plan(source, classifier, text_column, id_column, keep_text, top_k)
    meter = Progress(source.total, enabled=progress)
    try:
        with sigterm_as_interrupt():
            rows = run_plan(plan, classifier, output, top_k, batch_size, chunk_size, meter)
    finally:
        meter.close()
    return {"rows": rows, "seconds": meter.seconds, "output": output, "source": source.name}
