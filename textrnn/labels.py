"""Labels: which columns hold the text and its labels, and reading them into label ids, one per text or many.

LabelReader.detect  the text and label columns (named, or found among the usual names) and the problem type
LabelReader.convert a split as (text, label): a class id per text, or a list of label ids (multi-label)

Every bad value is an error naming its split, row and column.
"""

import math
from dataclasses import dataclass

import numpy as np
from datasets import ClassLabel, Dataset, Features, Value
from datasets import Sequence as SequenceFeature

from . import label_lists
from .errors import ConfigError, DataError

TEXT_COLUMNS = ("text", "sentence", "review", "content", "document", "body", "comment", "tweet", "utterance",
                "question")
LABEL_COLUMNS = ("label", "labels", "sentiment", "class", "category", "target", "polarity", "y")
# Half-star ratings (0.5 to 5) have 5 values with a fraction and grade scales (1.0, 1.3, 1.7, ... 4.0) about 7;
# a regression target (0.001, 0.25, ...) has one nearly per row.
MAX_FRACTIONAL_LABELS = 12
# A column with more labels than half its rows is doubted only above this many: 20 rows with 10 classes is a fine
# smoke test, and a report of 20 classes is small.
MIN_LABELS_TO_DOUBT = 20


def find_column(columns, candidates, override, what: str, flag: str) -> str:
    if override:
        if override not in columns:
            raise DataError(f"{what} column {override!r} not found; the data has columns: {', '.join(columns)}")
        return override
    lowered = {column.lower(): column for column in columns}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    raise DataError(f"no {what} column found among {', '.join(columns)}; name it with {flag}")


def label_name(value) -> str:
    """The name of a label value. 1.0 is "1": an integer column with a missing value reads as floats."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def label_names_of(split: Dataset, label_column: str) -> list[str]:
    feature = split.features[label_column]
    if isinstance(feature, ClassLabel):
        return list(feature.names)
    values = label_lists.column_values(split, label_column)
    for row, value in enumerate(values):
        label_lists.check_label_value(value, row, "train", label_column)
    distinct = {value for value in values if not label_lists.is_missing(value)}
    if all(isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and float(value).is_integer()
           for value in distinct):
        return list(dict.fromkeys(label_name(value) for value in sorted(distinct)))  # numeric order: 2 before 10
    return sorted({label_name(value) for value in distinct})


def is_fractional_number(name: str) -> bool:
    try:
        number = float(name)
    except ValueError:
        return False
    return math.isfinite(number) and not number.is_integer()


def check_looks_like_labels(values: list, label_column: str, names: list[str]) -> None:
    """Refuse an undeclared single-label column that looks like something else: a regression target, a column
    with a label per text or two (an id, a score, free text), or label lists joined into one string."""
    hint = (f"is {label_column!r} the label column? name it with --label-column; if these are the classes after all, "
            "--problem-type single reads them as they are")
    fractional = [name for name in names if is_fractional_number(name)]
    if len(fractional) > MAX_FRACTIONAL_LABELS:
        raise DataError(f"train split: column {label_column!r} holds {len(fractional)} different numbers with a "
                        f"fraction ({', '.join(fractional[:3])}, ...): this looks like a regression target, not "
                        f"labels; {hint}")
    # A class is learnt from its texts: with more labels than half the rows most labels have a single text, as in
    # an id or free-text column. Tiny data sets stay welcome below MIN_LABELS_TO_DOUBT.
    if len(names) > max(MIN_LABELS_TO_DOUBT, len(values) / 2):
        raise DataError(f"train split: column {label_column!r} holds {len(names)} different labels in "
                        f"{len(values)} rows ({', '.join(map(repr, names[:3]))}, ...), too few texts per label to "
                        f"learn them: it does not look like labels; {hint}")
    check_not_joined_lists(values, label_column, names)


def joined_names(names: set[str], separator: str) -> list[str]:
    """The names that join other names of the column with `separator`: "news|sport" beside "news" and "sport".
    Names whose parts are not labels themselves ("very positive", "1,000+") are never among them."""
    joined = []
    for name in names:
        parts = [part.strip() for part in name.split(separator)]
        if len(parts) > 1 and all(part in names for part in parts):
            joined.append(name)
    return sorted(joined)


def check_not_joined_lists(values: list, label_column: str, names: list[str]) -> None:
    """A single-label column of joined label lists would train each combination as a class of its own, silently."""
    for separator in label_lists.SEPARATORS:
        joined = joined_names(set(names), separator)
        if joined:
            row = next(row for row, value in enumerate(values)
                       if not label_lists.is_missing(value) and label_name(value) == joined[0])
            more = f" ({len(joined)} labels are such joins)" if len(joined) > 1 else ""
            raise DataError(f"train split, row {row}: column {label_column!r} holds {joined[0]!r}, labels of other "
                            f"rows joined by {separator!r}{more}, so each combination would be a class of its own; "
                            f"pass --label-separator {separator!r} to read them as multi-label data, or --problem-type "
                            "single to keep them as they are")


def check_text(text, row: int, split_name: str, text_column: str) -> None:
    if text is None or (isinstance(text, str) and (not text or text.isspace())):
        raise DataError(f"{split_name} split, row {row}: the text in column {text_column!r} is "
                        f"{'missing (null)' if text is None else 'empty'}; remove or fill that row")
    if not isinstance(text, str):
        raise DataError(f"{split_name} split, row {row}: column {text_column!r} holds "
                        f"{type(text).__name__}, not text")


def to_text_label(split: Dataset, split_name: str, text_column: str, label_column: str,
                  label_names: list[str]) -> Dataset:
    """Rename to (text, label) with label ids indexing `label_names`; names map by string value.
    A missing or empty text, or a label that is missing or not in `label_names`, is an error naming its row."""
    feature = split.features[label_column]
    source_names = feature.names if isinstance(feature, ClassLabel) else None
    index = {name: i for i, name in enumerate(label_names)}

    def label_id(value, row: int) -> int:
        where = f"{split_name} split, row {row}"
        if label_lists.is_missing(value):
            raise DataError(f"{where}: no label ({'empty or null' if value is None else 'NaN'}) in column "
                            f"{label_column!r}")
        label_lists.check_label_value(value, row, split_name, label_column)
        if source_names is not None:
            if not 0 <= value < len(source_names):
                raise DataError(f"{where}: label {value} in column {label_column!r} is out of range for its "
                                f"{len(source_names)} classes {source_names}")
            value = source_names[value]
        if label_name(value) not in index:
            raise DataError(f"{where}: label {value!r} in column {label_column!r} is not one of the labels "
                            f"seen in training {label_names}")
        return index[label_name(value)]

    def convert(batch, rows):
        texts = batch[text_column]
        for text, row in zip(texts, rows):
            check_text(text, row, split_name, text_column)
        return {"text": texts, "label": [label_id(value, row) for value, row in zip(batch[label_column], rows)]}

    # Features given: else a column that map keeps, such as another "label" beside --label-column category,
    # lends the output its own feature.
    features = Features({"text": Value("string"), "label": ClassLabel(names=label_names)})
    return split.map(convert, batched=True, with_indices=True, remove_columns=split.column_names, features=features)


def to_text_labels(split: Dataset, split_name: str, text_column: str, lists: list[list], label_names: list[str],
                   class_names: list[str] | None, where: str) -> Dataset:
    """The multi-label form of to_text_label: (text, label) with label a list of ids into `label_names`."""
    texts = label_lists.column_values(split, text_column)
    for row, text in enumerate(texts):
        check_text(text, row, split_name, text_column)
    ids = label_lists.to_ids(lists, label_names, class_names, split_name, where)
    features = Features({"text": Value("string"), "label": SequenceFeature(ClassLabel(names=label_names))})
    return Dataset.from_dict({"text": texts, "label": ids}, features=features)


def single_from_lists(split: Dataset, split_name: str, label_column: str) -> Dataset:
    """--problem-type single on a list column: each row's one label as a plain value; two or none is an error."""
    class_names = label_lists.class_names(split, label_column)
    values = []
    for row, labels in enumerate(label_lists.label_lists(split, split_name, label_column, None, None)):
        if len(labels) != 1:
            raise DataError(f"{split_name} split, row {row}: {len(labels)} labels {labels!r} in column "
                            f"{label_column!r}, but --problem-type single needs exactly one per text; use "
                            "--problem-type multi (or auto) for multi-label data")
        values.append(class_names[labels[0]] if class_names else labels[0])
    return split.remove_columns(label_column).add_column(label_column, values)


def is_unlabelled(split: Dataset, label_column: str | None) -> bool:
    # GLUE-style test splits ship labels of -1: nothing to evaluate against.
    feature = split.features.get(label_column) if label_column else None
    return isinstance(feature, ClassLabel) and len(split) > 0 and max(label_lists.column_values(split, label_column)) < 0


@dataclass
class LabelReader:
    """Where a data set keeps its labels and in which shape, as asked on the command line or detected."""

    text_column: str
    label_column: str | None
    problem_type: str  # single | multi, once resolved
    label_columns: list[str] | None = None
    label_separator: str | None = None
    # --problem-type named the shape: the checks that guess at a mistaken label column trust it instead.
    problem_type_given: bool = False

    @classmethod
    def detect(cls, split: Dataset, text_column=None, label_column=None, problem_type="auto", label_separator=None,
               label_columns=None) -> "LabelReader":
        problem_type_given = problem_type != "auto"
        columns = split.column_names
        text_column = find_column(columns, TEXT_COLUMNS, text_column, "text", "--text-column")
        if label_columns:
            if label_column or label_separator:
                raise ConfigError("--label-columns names the 0/1 columns of multi-label data: leave out "
                                  "--label-column and --label-separator")
            label_column = None
        else:
            label_column = find_column(columns, LABEL_COLUMNS, label_column, "label", "--label-column")
            if text_column == label_column:
                raise DataError(f"the text and label columns are both {text_column!r}")
        shaped_as_multi = bool(label_columns or label_separator) or label_lists.is_list_column(split, label_column)
        if problem_type == "auto":
            problem_type = "multi" if shaped_as_multi else "single"
        elif problem_type == "single" and (label_columns or label_separator):
            raise ConfigError(f"--problem-type single reads one label per text, but "
                              f"{'--label-columns' if label_columns else '--label-separator'} reads several")
        return cls(text_column, label_column, problem_type, list(label_columns) if label_columns else None,
                   label_separator, problem_type_given)

    def names(self, train: Dataset) -> list[str]:
        if self.problem_type == "single":
            if label_lists.is_list_column(train, self.label_column):
                train = single_from_lists(train, "train", self.label_column)
            names = label_names_of(train, self.label_column)
            if not self.problem_type_given and not isinstance(train.features[self.label_column], ClassLabel):
                check_looks_like_labels(train[self.label_column], self.label_column, names)  # declared: trusted
            return names
        if self.label_separator:
            label_lists.check_separator_occurs(train[self.label_column], self.label_column, self.label_separator)
        lists = self.lists(train, "train")
        return label_lists.names_in_training(lists, label_lists.class_names(train, self.label_column)
                                            if self.label_column else None)

    def lists(self, split: Dataset, split_name: str) -> list[list]:
        if self.label_column and not self.label_separator and not label_lists.is_list_column(split, self.label_column):
            return self.scalar_lists(split, split_name)
        return label_lists.label_lists(split, split_name, self.label_column, self.label_columns, self.label_separator)

    def scalar_lists(self, split: Dataset, split_name: str) -> list[list]:
        """--problem-type multi on a plain column: each value a list of one label; missing or blank, of none."""
        lists = []
        for row, value in enumerate(label_lists.column_values(split, self.label_column)):
            if label_lists.is_missing(value) or (isinstance(value, str) and not value.strip()):
                lists.append([])  # as a delimited column's empty value
                continue
            label_lists.check_label_value(value, row, split_name, self.label_column)
            lists.append([value])
        return lists

    def convert(self, split: Dataset, split_name: str, label_names: list[str]) -> Dataset:
        if len(split) == 0:
            raise DataError(f"the {split_name} split is empty")
        if self.problem_type == "single":
            if label_lists.is_list_column(split, self.label_column):
                split = single_from_lists(split, split_name, self.label_column)
            return to_text_label(split, split_name, self.text_column, self.label_column, label_names)
        class_names = label_lists.class_names(split, self.label_column) if self.label_column else None
        where = f"column {self.label_column!r}" if self.label_column else "--label-columns"
        return to_text_labels(split, split_name, self.text_column, self.lists(split, split_name), label_names,
                              class_names, where)
