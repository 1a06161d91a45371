"""Data: Hugging Face datasets in, token ids out (batching.py turns those into batches).

load_splits     hub name, local dataset directory or csv/tsv/json/jsonl/parquet files -> DatasetDict
prepare_data    pick text and label columns, map labels to ids, carve a validation split
encode_split    tokenise once (Dataset.map, batched) into one flat id array plus offsets
"""

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import datasets
import numpy as np
from datasets import Dataset, DatasetDict

from .batching import EncodedSplit
from .errors import DataError
from .label_lists import column_values
from .labels import TEXT_COLUMNS, LabelReader, is_unlabelled
from .tasks import make_task
from .tokenizer import TokenizerConfig, encode_batch

VALIDATION_SPLITS = ("validation", "valid", "dev", "val")
FILE_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
UNLABELED_SPLITS = ("unsupervised", "unlabeled", "unlabelled")  # what --unlabeled auto looks for
HUB_TIMEOUT_SECONDS = 3.0

# ----------------------------------------------------------------------------- loading


def quiet_datasets() -> None:
    """textrnn prints its own one-line summaries; the progress bar of every map and cast is noise there, and
    so are the builders' error logs of a file that does not load (the DataError says what they say, once)."""
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)


def load_splits(dataset: str | None = None, train_file=None, validation_file=None, test_file=None) -> DatasetDict:
    """Raw splits from a hub name (`imdb`, `stanfordnlp/sst2`, `name:config`), a local path, or files."""
    files = {"train": train_file, "validation": validation_file, "test": test_file}
    files = {split: str(path) for split, path in files.items() if path}
    if dataset and files:
        raise DataError("give either --dataset or --train-file/--validation-file/--test-file, not both")
    if files:
        return DatasetDict({split: load_file(path) for split, path in files.items()})
    if not dataset:
        raise DataError("no data: give --dataset NAME_OR_DIR or --train-file FILE")
    path = Path(dataset).expanduser()
    if path.is_file():
        return DatasetDict({"train": load_file(path)})
    if path.is_dir():
        name, config = str(path), None
    elif dataset.startswith((".", "/", "~")):
        raise DataError(f"no such dataset directory or file: {dataset}")
    else:
        name, _, config = dataset.partition(":")
        check_hub_reachable(name)
    try:
        return datasets.load_dataset(name, config or None)
    except Exception as error:  # missing data files, unknown hub names, bad configs: many types
        raise DataError(f"could not load dataset {dataset!r}: {error}") from error


def load_file(path) -> Dataset:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    suffix = path.suffix.lower()
    if suffix not in FILE_FORMATS:
        raise DataError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(FILE_FORMATS)}")
    check_file_content(path, FILE_FORMATS[suffix])
    options = {"delimiter": "\t"} if suffix == ".tsv" else {}
    try:
        loaded = datasets.load_dataset(FILE_FORMATS[suffix], data_files=str(path), split="train", **options)
    except Exception as error:  # the builders raise many types for a malformed file
        cause = root_cause(error)
        hint = "; save it as UTF-8" if isinstance(cause, UnicodeDecodeError) else ""
        raise DataError(f"{path}: could not be read as {FILE_FORMATS[suffix]}: {str(cause).strip()}{hint}") from error
    return loaded


MAGIC_BYTES = {b"PAR1": "a parquet file", b"\x1f\x8b": "gzip-compressed", b"PK\x03\x04": "a zip archive (xlsx?)"}
SNIFF_BYTES = 65_536


def check_file_content(path: Path, file_format: str) -> None:
    """Catch a file that is not what its extension says before a builder fails on it with a vaguer message."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        raise DataError(f"{path} is empty")
    actual = next((what for magic, what in MAGIC_BYTES.items() if head.startswith(magic)), None)
    if file_format == "parquet":
        if actual != "a parquet file":
            raise DataError(f"{path} is not a parquet file (it starts with {head[:20]!r}); give the file the "
                            "extension of its real format: .csv, .tsv, .json or .jsonl")
        return
    if actual:
        raise DataError(f"{path} is {actual}, not {file_format} text" +
                        ("; rename it to .parquet" if actual == "a parquet file" else ""))
    if b"\x00" in head:
        raise DataError(f"{path} is not {file_format} text: it holds NUL bytes (binary, or UTF-16 text?)")
    whole_file = len(head) < SNIFF_BYTES
    if file_format == "csv" and whole_file and len([line for line in head.splitlines() if line.strip()]) < 2:
        raise DataError(f"{path} has no rows below its header")


def root_cause(error: BaseException) -> BaseException:
    """The first exception not raised by `datasets` itself: it wraps the one that says what is wrong
    ("JSON parse error ...", "Expected 2 fields in line 3") in a generic one."""
    while type(error).__module__.startswith("datasets") and (error.__cause__ or error.__context__):
        error = error.__cause__ or error.__context__
    return error


def check_hub_reachable(name: str) -> None:
    """Fail in seconds, not after the hub client's minute of retries, when the hub is out of reach."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return  # the user asked for the local cache; datasets fails fast itself if it is not there
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=HUB_TIMEOUT_SECONDS).close()
    except OSError as error:
        raise DataError(
            f"cannot reach the Hugging Face hub at {host} to load {name!r} ({error}). "
            "Use local data instead: --dataset path/to/dataset_dir (e.g. ../shared/data/imdb), "
            "or --train-file/--validation-file/--test-file with csv, tsv, json, jsonl or parquet files; "
            "set HF_HUB_OFFLINE=1 to use a copy already in the local cache."
        ) from None


# ----------------------------------------------------------------------------- splits


@dataclass
class TextClassificationData:
    train: Dataset  # columns: text (str), label (int; multi-label: a list of ints)
    validation: Dataset
    test: Dataset | None
    label_names: list[str]
    text_column: str
    label_column: str | None  # None with label_columns
    held_out: bool = False  # validation is a share of train (the data has no validation split)
    problem_type: str = "single"  # single | multi
    label_columns: list[str] | None = None
    label_separator: str | None = None

    @property
    def task(self):
        """The label shape's task (tasks.py): what training, evaluation and the saved model ask about labels."""
        return make_task(self.problem_type, self.label_names)

    def label_format(self) -> dict:
        """How the labels were read: saved with a model so `textrnn evaluate` reads other splits alike."""
        return {"problem_type": self.problem_type, "text_column": self.text_column, "label_column": self.label_column,
                "label_columns": self.label_columns, "label_separator": self.label_separator}


def prepare_split(raw: DatasetDict, split_name: str, text_column: str | None, label_column: str | None,
                  label_names: list[str], problem_type: str = "single", label_separator: str | None = None,
                  label_columns: list[str] | None = None) -> Dataset:
    """One split as text/label columns, its labels mapped onto `label_names` (a model's, say)."""
    if split_name not in raw:
        raise DataError(f"no {split_name!r} split in the data (it has: {', '.join(raw)})")
    split = raw[split_name]
    reader = LabelReader.detect(split, text_column, label_column, problem_type, label_separator, label_columns)
    if len(split) == 0:
        raise DataError(f"the {split_name} split is empty")
    if is_unlabelled(split, reader.label_column):
        raise DataError(f"the {split_name} split has no labels (every {reader.label_column!r} is -1)")
    return reader.convert(split, split_name, label_names)


def carve_validation(train: Dataset, validation_size: float, num_classes: int, seed: int,
                     stratify: bool = True) -> tuple[Dataset, Dataset]:
    """Hold out a seeded share of train, stratified by label for single-label data (at least one text per class)."""
    count = max(num_classes if stratify else 1, round(validation_size * len(train)))
    try:
        parts = train.train_test_split(test_size=count, stratify_by_column="label" if stratify else None, seed=seed)
    except ValueError as error:  # too few texts overall, or a class with a single text
        raise DataError(f"cannot hold out a stratified validation split from {len(train)} training texts "
                        f"({error}); give --validation-file or more data") from None
    return parts["train"], parts["test"]


def prepare_data(
    raw: DatasetDict,
    text_column: str | None = None,
    label_column: str | None = None,
    label_names: list[str] | None = None,
    validation_size: float = 0.1,
    seed: int = 0,
    problem_type: str = "auto",
    label_separator: str | None = None,
    label_columns: list[str] | None = None,
) -> TextClassificationData:
    """Normalise a DatasetDict to text/label splits: train, validation (carved if absent), test (optional)."""
    if "train" not in raw:
        raise DataError(f"the data has no train split (found: {', '.join(raw) or 'none'})")
    if len(raw["train"]) == 0:
        raise DataError("the train split is empty")
    reader = LabelReader.detect(raw["train"], text_column, label_column, problem_type, label_separator, label_columns)
    label_names = label_names or reader.names(raw["train"])

    def labelled(name: str) -> Dataset | None:
        if name not in raw or is_unlabelled(raw[name], reader.label_column):
            return None
        return reader.convert(raw[name], name, label_names)

    train = labelled("train")
    validation = next((labelled(name) for name in VALIDATION_SPLITS if name in raw), None)
    test = labelled("test")
    where = f"column {reader.label_column!r}" if reader.label_column else "--label-columns"
    task = make_task(reader.problem_type, label_names)
    check_labels_seen_in_training(train, {"validation": validation, "test": test}, task, where)
    held_out = validation is None
    if held_out:
        train, validation = carve_validation(train, validation_size, len(label_names), seed,
                                             stratify=task.stratify_validation)
    return TextClassificationData(train, validation, test, label_names, reader.text_column, reader.label_column,
                                  held_out, reader.problem_type, reader.label_columns, reader.label_separator)


def check_labels_seen_in_training(train: Dataset, others: dict[str, Dataset | None], task, where: str) -> None:
    """Train must hold two labels or more, and every label of validation and test must occur in train:
    declared label names (a ClassLabel, a resumed run's) can name classes that train lacks."""
    label_names = task.labels
    counts = task.label_counts(column_values(train, "label"))
    present = [name for name, count in zip(label_names, counts) if count]
    if len(present) < 2:
        found = f"a single label, {present[0]!r}," if present else "no label"
        raise DataError(f"the train split has {found} in {where}: a classifier needs at least 2")
    for split_name, split in others.items():
        if split is None:
            continue
        rows = [row for row, labels in enumerate(column_values(split, "label"))
                if any(counts[label] == 0 for label in task.ids_of(labels))]
        if rows:
            name = next(label_names[label] for label in task.ids_of(split[rows[0]]["label"]) if counts[label] == 0)
            raise DataError(f"{split_name} split, row {rows[0]}: label {name!r} in {where} never occurs in the train "
                            f"split, so the model cannot learn it ({len(rows)} of the {split_name} split's "
                            f"{len(split)} rows have such labels)")


def unlabeled_texts(raw: DatasetDict, source: str, text_column: str) -> tuple[list[str], str] | None:
    """Texts without labels for pre-training, and where they come from; None for none. source: auto (the data's
    unsupervised/unlabeled split, if any), none, a split name, or a csv/tsv/json/jsonl/parquet/txt file (one text
    per line). The splits a model is chosen or scored on are refused: their texts must stay unseen."""
    if source == "none":
        return None
    if source == "auto":
        name = next((name for name in UNLABELED_SPLITS if name in raw), None)
        if name is None:
            return None
        split, where = raw[name], f"the {name!r} split"
    elif source in raw:
        if source == "test" or source in VALIDATION_SPLITS:
            raise DataError(f"--unlabeled {source}: the {source} split chooses or scores the model, so pre-training "
                            "must not read its texts; give an unlabelled split or file")
        split, where = raw[source], f"the {source!r} split"
    elif Path(source).suffix.lower() == ".txt" and Path(source).is_file():
        lines = Path(source).read_text(encoding="utf-8", errors="replace").splitlines()
        split, where = Dataset.from_dict({"text": lines}), source
    elif Path(source).is_file():
        split, where = load_file(source), source
    else:
        raise DataError(f"--unlabeled {source}: not a split of the data (it has: {', '.join(raw)}) nor a file")
    column = next((name for name in (text_column, *TEXT_COLUMNS) if name in split.column_names), None)
    if column is None:
        raise DataError(f"--unlabeled: {where} has no text column ({text_column!r} or one of {', '.join(TEXT_COLUMNS)}); "
                        f"its columns: {', '.join(split.column_names)}")
    texts = [text for text in column_values(split, column) if isinstance(text, str) and text.strip()]
    if not texts:
        raise DataError(f"--unlabeled: {where} holds no text")
    return texts, where


# ----------------------------------------------------------------------------- encoding


def encode_texts(texts: list[str], tokenizer, config: TokenizerConfig | None = None) -> EncodedSplit:
    """Texts without labels (for pre-training) as an EncodedSplit whose labels are all 0."""
    ids, offsets = encode_ids(Dataset.from_dict({"text": texts}), tokenizer, config)
    return EncodedSplit(ids, offsets, np.zeros(len(texts), dtype=np.int64))


def encode_split(split: Dataset, tokenizer, config: TokenizerConfig | None, task) -> EncodedSplit:
    """A text/label split's token ids, and its labels as the task holds them ([n] ids, or [n, labels] 0/1)."""
    ids, offsets = encode_ids(split, tokenizer, config)
    return EncodedSplit(ids, offsets, task.label_array(column_values(split, "label")))


def encode_ids(split: Dataset, tokenizer, config: TokenizerConfig | None) -> tuple[np.ndarray, np.ndarray]:
    """Tokenise the texts once, with Dataset.map so the datasets cache can reuse it: (ids, offsets)."""
    encoded = split.select_columns(["text"]).map(
        lambda batch: {"input_ids": encode_batch(tokenizer, batch["text"], config)},
        batched=True,
        batch_size=2_000,
        remove_columns=["text"],
    )
    # Read the ragged column straight from Arrow: one flat values array plus offsets.
    column = encoded.data.column("input_ids").combine_chunks()
    offsets = column.offsets.to_numpy().astype(np.int64)
    ids = column.values.to_numpy().astype(np.int32)
    return ids[offsets[0] : offsets[-1]], offsets - offsets[0]
