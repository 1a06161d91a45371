"""Multi-label input: each row's labels as one list, from any of the three shapes they come in.

    a list column       Sequence(ClassLabel), or lists of strings or ints ("labels": ["joy", "love"])
    a delimited string  "joy,love" with --label-separator ","
    0/1 columns         --label-columns joy,love,anger: one column per label, 1 where it applies

A text with no label at all is valid. labels.LabelReader is the only user: it turns these lists into label ids.
"""

from collections.abc import Sequence

import numpy as np
from datasets import ClassLabel, Dataset
from datasets import Sequence as SequenceFeature

from .errors import DataError


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
