"""Multi-label input: each row's labels as one list, from any of the three shapes they come in.

    a list column       Sequence(ClassLabel), or lists of strings or ints ("labels": ["joy", "love"])
    a delimited string  "joy,love" with --label-separator ","
    0/1 columns         --label-columns joy,love,anger: one column per label, 1 where it applies

A text with no label at all is valid. labels.LabelReader is the only user: it turns these lists into label ids.
check_label_value, shared with labels.py, refuses a value that is no label in any shape (a struct, bytes, "").
"""

import math
from collections.abc import Sequence

import numpy as np
from datasets import ClassLabel, Dataset
from datasets import Sequence as SequenceFeature

from .errors import DataError


ACCEPTED_SHAPES = ("a label is a name or a number per row, a list of them per row (multi-label), names joined "
                   "by --label-separator, or 0/1 columns named by --label-columns")
SEPARATORS = (",", "|", ";")  # the separators a delimited label column is likely to use, for hints


def preview(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_missing(value) -> bool:
    """No label: null, or NaN (a float column's missing value)."""
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


def check_label_value(value, row: int, split_name: str, column: str, in_list: bool = False) -> None:
    """Refuse a value that is no label in any shape, naming its row: a struct, a list (in a list, or among single
    labels), bytes, an empty name, an infinite number; inside a list, a null too. Missing values are the caller's."""
    where = f"{split_name} split, row {row}: column {column!r}"
    if isinstance(value, dict):
        raise DataError(f"{where} holds a struct {preview(value)}, not a label; {ACCEPTED_SHAPES}")
    if isinstance(value, (list, tuple)):
        held = "a list inside a list" if in_list else "a list where the other rows hold single labels"
        raise DataError(f"{where} holds {held} ({preview(value)}); {ACCEPTED_SHAPES}")
    if isinstance(value, (bytes, bytearray)):
        raise DataError(f"{where} holds bytes ({preview(value)}), not label names; store the labels as text "
                        "(decoded, as UTF-8 say)")
    if isinstance(value, str) and not value.strip():
        raise DataError(f"{where} holds an empty label name ({value!r}); "
                        + ("leave it out of the list (an empty list is a text with no label)" if in_list else
                           "give that row its label or remove it"))
    if isinstance(value, (float, np.floating)) and math.isinf(value):
        raise DataError(f"{where} holds {value}, not a label")
    if in_list and is_missing(value):
        raise DataError(f"{where} holds a null label inside its list; leave it out (an empty list is a text with "
                        "no label)")


def is_list_column(split: Dataset, column: str) -> bool:
    """True for a Sequence feature, or a column whose first non-null value is a list."""
    feature = split.features[column]
    if isinstance(feature, (SequenceFeature, list)):
        return True
    first = next((value for value in split[column][:1000] if value is not None), None)
    return isinstance(first, (list, tuple))


def column_values(split: Dataset, column: str) -> list:
    """A column's values as a list. datasets 4 and later give a lazy Column, whose rows read one at a time cost
    about 5 us each: GoEmotions' label and text columns, read row by row in several places, took 2 s of a run."""
    return split[column][:]


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
    values = column_values(split, column)
    if separator is not None:
        return [split_names(value, row, split_name, column, separator) for row, value in enumerate(values)]
    lists = []
    for row, value in enumerate(values):
        if value is None:
            value = []  # a row with no label at all
        if not isinstance(value, (list, tuple)):
            raise DataError(f"{split_name} split, row {row}: column {column!r} holds a single "
                            f"{type(value).__name__} ({preview(value)}) where the other rows hold lists of labels; "
                            "give every row a list (an empty one for no label)")
        for element in value:
            check_label_value(element, row, split_name, column, in_list=True)
        lists.append(list(value))
    return lists


def check_separator_occurs(values: list, column: str, separator: str) -> None:
    """--label-separator that occurs in no training row reads every text as having one label, the whole value,
    silently: almost surely the wrong separator (or not multi-label data at all)."""
    names = [value for value in values if isinstance(value, str) and value.strip()]
    if not names or any(separator in value for value in names):
        return  # no text values: split_names or the label count says what is wrong
    sample = next((value for value in names if any(other in value for other in SEPARATORS)), names[0])
    used = [other for other in SEPARATORS if other != separator and other in sample]
    guess = f" (it holds {used[0]!r}: --label-separator {used[0]!r}?)" if used else ""
    raise DataError(f"train split: --label-separator {separator!r} never occurs in column {column!r}, so every text "
                    f"would have one label; a value: {preview(sample)}{guess}. Give the separator the column uses, "
                    "or leave out --label-separator for one label per text")


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
        for row, value in enumerate(column_values(split, column)):
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
