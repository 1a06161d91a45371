"""Multi-label data: any number of labels per text (GoEmotions' emotions, a post's topics).

Three input shapes are read, each into one list of label ids per text:

    a list column       Sequence(ClassLabel), or lists of strings or ints ("labels": ["joy", "love"])
    a delimited string  "joy,love" with --label-separator ","
    0/1 columns         --label-columns joy,love,anger: one column per label, 1 where it applies

A text with no label at all is valid. The model gives each label its own sigmoid score; a label is
predicted when its score passes that label's threshold, tuned on the validation split for F1
(`tune_thresholds`) and saved in config.json.
"""

from collections.abc import Sequence

import numpy as np
from datasets import ClassLabel, Dataset
from datasets import Sequence as SequenceFeature
from sklearn.metrics import f1_score, hamming_loss, precision_recall_fscore_support

from .errors import DataError

THRESHOLD_GRID = np.round(np.arange(0.02, 0.99, 0.01), 2)
MIN_TUNING_POSITIVES = 5  # a label with fewer positives in validation takes the global threshold
DEFAULT_THRESHOLD = 0.5


# ----------------------------------------------------------------------------- reading labels


def is_list_column(split: Dataset, column: str) -> bool:
    """True for a Sequence feature, or a column whose first non-null value is a list."""
    feature = split.features[column]
    if isinstance(feature, (SequenceFeature, list)):
        return True
    first = next((value for value in split[column][:1000] if value is not None), None)
    return isinstance(first, (list, tuple))


def class_names(split: Dataset, column: str) -> list[str] | None:
    """The class names of a ClassLabel or Sequence(ClassLabel) column, or None."""
    feature = split.features[column]
    if isinstance(feature, SequenceFeature):
        inner = feature.feature
    else:
        inner = feature[0] if isinstance(feature, list) else feature
    return list(inner.names) if isinstance(inner, ClassLabel) else None


def label_lists(split: Dataset, split_name: str, column: str | None, columns: Sequence[str] | None,
                separator: str | None) -> list[list]:
    """Each row's labels as a list of raw values (names, ints, or ClassLabel ids), with bad rows named."""
    if columns:
        return zero_one_rows(split, split_name, columns)
    values = split[column]
    if separator is not None:
        return [split_names(value, row, split_name, column, separator) for row, value in enumerate(values)]
    lists = []
    for row, value in enumerate(values):
        if value is None:
            value = []  # a row with no label at all
        if not isinstance(value, (list, tuple)):
            raise DataError(f"{split_name} split, row {row}: column {column!r} holds a single "
                            f"{type(value).__name__} ({value!r}) where the other rows hold lists of labels; give "
                            "every row a list (an empty one for no label)")
        lists.append(list(value))
    return lists


def split_names(value, row: int, split_name: str, column: str, separator: str) -> list[str]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    if not isinstance(value, str):
        raise DataError(f"{split_name} split, row {row}: column {column!r} holds {type(value).__name__}, not "
                        f"text with labels separated by {separator!r}")
    names = [name.strip() for name in value.split(separator)]
    if not all(names):
        raise DataError(f"{split_name} split, row {row}: {value!r} in column {column!r} has an empty label name "
                        f"between separators {separator!r}")
    return names


def zero_one_rows(split: Dataset, split_name: str, columns: Sequence[str]) -> list[list[str]]:
    missing = [column for column in columns if column not in split.column_names]
    if missing:
        raise DataError(f"--label-columns: {', '.join(map(repr, missing))} not found in the {split_name} split; "
                        f"it has columns: {', '.join(split.column_names)}")
    rows: list[list[str]] = [[] for _ in range(len(split))]
    for column in columns:
        for row, value in enumerate(split[column]):
            if value in (1, True):
                rows[row].append(column)
            elif value not in (0, False):
                raise DataError(f"{split_name} split, row {row}: column {column!r} holds {value!r}, but each of "
                                "--label-columns must hold 0 or 1")
    return rows


def names_in_training(lists: list[list], class_names: list[str] | None) -> list[str]:
    """The label names of the training rows: a ClassLabel's own, else every name seen (numbers in numeric order)."""
    if class_names is not None:
        return class_names
    seen = {value for values in lists for value in values}
    if seen and all(isinstance(value, (int, np.integer)) and not isinstance(value, bool) for value in seen):
        return [str(value) for value in sorted(seen)]
    return sorted(str(value) for value in seen)


def to_ids(lists: list[list], label_names: list[str], class_names: list[str] | None, split_name: str,
           column: str) -> list[list[int]]:
    """Label ids per row, in label_names' order; a name unknown to training is an error naming its row."""
    index = {name: i for i, name in enumerate(label_names)}
    rows = []
    for row, values in enumerate(lists):
        ids = []
        for value in values:
            name = class_names[value] if class_names is not None and isinstance(value, int) else str(value)
            if name not in index:
                raise DataError(f"{split_name} split, row {row}: label {name!r} in {column} is not one of the "
                                f"labels seen in training ({', '.join(label_names[:30])})")
            ids.append(index[name])
        rows.append(sorted(set(ids)))
    return rows


def multi_hot(rows: Sequence[Sequence[int]], num_labels: int) -> np.ndarray:
    """[len(rows), num_labels] float32, 1 where a row has the label."""
    matrix = np.zeros((len(rows), num_labels), dtype=np.float32)
    for row, ids in enumerate(rows):
        matrix[row, list(ids)] = 1.0
    return matrix


# ----------------------------------------------------------------------------- thresholds and metrics


def tune_thresholds(targets: np.ndarray, probs: np.ndarray) -> tuple[list[float], float]:
    """(threshold per label, global threshold): each label's maximises its own F1 on these (validation) rows;
    a label with fewer than MIN_TUNING_POSITIVES positives takes the global one, which maximises micro-F1."""
    targets = targets.astype(bool)
    predicted = probs[:, :, None] >= THRESHOLD_GRID  # [rows, labels, grid]
    true_positives = (predicted & targets[:, :, None]).sum(axis=0)  # [labels, grid]
    predicted_positives = predicted.sum(axis=0)
    positives = targets.sum(axis=0)[:, None]  # [labels, 1]
    f1 = 2 * true_positives / np.maximum(predicted_positives + positives, 1)
    micro = 2 * true_positives.sum(0) / np.maximum(predicted_positives.sum(0) + positives.sum(), 1)
    global_threshold = float(THRESHOLD_GRID[micro.argmax()])
    per_label = THRESHOLD_GRID[f1.argmax(axis=1)]
    rare = positives[:, 0] < MIN_TUNING_POSITIVES
    thresholds = np.where(rare, global_threshold, per_label)
    return [float(t) for t in thresholds], global_threshold


def predict(probs: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    return probs >= np.asarray(thresholds, dtype=probs.dtype)


def multi_label_metrics(targets: np.ndarray, predicted: np.ndarray, label_names: Sequence[str]) -> dict:
    """Micro-, macro- and sample-averaged F1, subset accuracy, Hamming loss and per-label P/R/F1/support."""
    targets, predicted = targets.astype(int), predicted.astype(int)
    precision, recall, f1, support = precision_recall_fscore_support(targets, predicted, zero_division=0)
    return {
        "micro_f1": float(f1_score(targets, predicted, average="micro", zero_division=0)),
        "macro_f1": float(np.mean(f1)),
        "samples_f1": float(f1_score(targets, predicted, average="samples", zero_division=0)),
        "subset_accuracy": float((targets == predicted).all(axis=1).mean()),
        "hamming_loss": float(hamming_loss(targets, predicted)),
        "per_label": {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for name, p, r, f, s in zip(label_names, precision, recall, f1, support)},
    }
