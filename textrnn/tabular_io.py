"""Tabular files, read and written a chunk at a time: the inputs and outputs of textrnn predict --input.

Sources: csv, tsv, json lines (or one JSON array), parquet, plain text and data set splits, each as chunks of
records. Writers: csv, tsv, JSON lines and parquet, each written under a temporary name and renamed into
place when every row is in. predict_files.py classifies what they read.
"""

import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ConfigError, DataError
from .fileio import atomic_path
from .labels import TEXT_COLUMNS

NOT_UTF8_HINT = "convert the file to UTF-8 (iconv -f LATIN1 -t UTF-8, say)"
DATA_EXTENSIONS = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt")
OUTPUT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
STDOUT = "-"
CSV_FIELD_LIMIT = 1 << 30  # the csv module's default (128 KiB) is below some real reviews
LIST_TYPES = {"labels": pa.list_(pa.string()), "scores": pa.list_(pa.float64())}
CONTENT_KINDS = {".csv": "comma-separated", ".tsv": "tab-separated", ".json": "JSON", ".jsonl": "JSON",
                 ".parquet": "parquet", ".txt": "plain"}


@dataclass
class Source:
    """Where rows come from: its name for messages, its columns, and read(columns, chunk_size) -> chunks
    ({column: list}); total is the row count where the input knows it (parquet, a data set)."""

    name: str
    columns: list[str]
    read: Callable[[list[str], int], Iterator[dict[str, list]]]
    total: int | None = None
    arrow_types: dict = field(default_factory=dict)


def decoded_lines(handle, where: str) -> Iterator[str]:
    """A binary file's lines as text; a line that is not UTF-8 is an error naming it (a BOM opening it is dropped)."""
    for number, line in enumerate(handle, start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"{where}, line {number} is not valid UTF-8: byte {line[error.start]:#04x} at byte "
                            f"position {error.start}; {NOT_UTF8_HINT}") from None
        yield text.removeprefix("\ufeff") if number == 1 else text


def in_chunks(records: Iterator[dict], size: int) -> Iterator[list[dict]]:
    chunk = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def records_source(name: str, columns: list[str], records: Callable[[], Iterator[dict]]) -> Source:
    """A Source over row records (dicts), read in chunks of their columns; a missing key reads as null."""
    def read(wanted: list[str], size: int) -> Iterator[dict[str, list]]:
        for chunk in in_chunks(records(), size):
            yield {column: [record.get(column) for record in chunk] for column in wanted}

    return Source(name, columns, read)


def delimited_rows(path: Path, delimiter: str) -> Iterator[list[str]]:
    """The header, then each row of a csv or tsv file; a row with another field count is an error naming its line."""
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    with open(path, "rb") as handle:
        reader = csv.reader(decoded_lines(handle, str(path)), delimiter=delimiter)
        try:
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path} is empty")
            yield header
            for row in reader:
                if row and len(row) != len(header):
                    raise DataError(f"{path}, line {reader.line_num}: {len(row)} fields where the header has "
                                    f"{len(header)}")
                if row:
                    yield row
        except csv.Error as error:
            raise DataError(f"{path}, line {reader.line_num}: not {path.suffix[1:]}: {error}") from None


def delimited_source(path: Path, delimiter: str) -> Source:
    rows = delimited_rows(path, delimiter)
    header = next(rows)
    rows.close()

    def records():
        rows = delimited_rows(path, delimiter)
        next(rows)
        return (dict(zip(header, row)) for row in rows)

    return records_source(str(path), header, records)


def json_lines(path: Path) -> Iterator[dict]:
    """Each JSON object of a JSON-lines file (blank lines skipped); anything else is an error naming its line."""
    with open(path, "rb") as handle:
        for number, line in enumerate(decoded_lines(handle, str(path)), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}, line {number}: not JSON ({error.msg} at column {error.colno})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}, line {number}: a JSON {type(record).__name__}, not an object of columns")
            yield record


def json_source(path: Path) -> Source:
    with open(path, "rb") as handle:
        starts_with = handle.read(4096).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")[:1]
    if starts_with == "[":  # one JSON array of objects: read whole, as it cannot be streamed line by line
        try:
            records = json.loads(path.read_bytes().decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(f"{path}: not a JSON array of objects ({error}); {NOT_UTF8_HINT} if it is not "
                            "UTF-8") from None
        if not all(isinstance(record, dict) for record in records):
            raise DataError(f"{path}: a JSON array whose items are not all objects of columns")
        columns = list(dict.fromkeys(key for record in records for key in record))
        return records_source(str(path), columns, lambda: iter(records))
    first = next(json_lines(path), None)
    if first is None:
        raise DataError(f"{path} holds no JSON object")
    return records_source(str(path), list(first), lambda: json_lines(path))


def text_lines_source(path: Path) -> Source:
    """A .txt file: one text per line (its line end dropped), in a column named text."""
    def records():
        with open(path, "rb") as handle:
            for line in decoded_lines(handle, str(path)):
                yield {"text": line.rstrip("\r\n")}

    return records_source(str(path), ["text"], records)


def parquet_source(path: Path) -> Source:
    try:
        schema = pq.read_schema(path)
        total = pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: not a readable parquet file ({error})") from None

    def read(wanted: list[str], size: int) -> Iterator[dict[str, list]]:
        with pq.ParquetFile(path) as parquet:
            for batch in parquet.iter_batches(batch_size=size, columns=wanted):
                yield batch.to_pydict()

    return Source(str(path), list(schema.names), read, total, {name: schema.field(name).type for name in schema.names})


def file_source(path) -> Source:
    """The Source of a csv, tsv, json, jsonl, parquet or txt file."""
    from .data import check_file_content

    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    suffix = path.suffix.lower()
    if suffix not in DATA_EXTENSIONS:
        raise DataError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(DATA_EXTENSIONS)}")
    check_file_content(path, CONTENT_KINDS[suffix])
    if suffix == ".parquet":
        return parquet_source(path)
    if suffix in (".csv", ".tsv"):
        return delimited_source(path, "\t" if suffix == ".tsv" else ",")
    return text_lines_source(path) if suffix == ".txt" else json_source(path)


def dataset_source(dataset: str, split: str) -> Source:
    """The Source of one split of a data set (a local directory or file, or a hub name: textrnn.data.load_splits)."""
    from .data import load_splits, quiet_datasets

    quiet_datasets()
    splits = load_splits(dataset)
    if split not in splits:
        raise DataError(f"no {split!r} split in {dataset} (it has: {', '.join(splits)}); name one with --split")
    data = splits[split]

    def read(wanted: list[str], size: int) -> Iterator[dict[str, list]]:
        yield from data.select_columns(wanted).iter(batch_size=size)

    types = {name: data.data.schema.field(name).type for name in data.column_names}
    return Source(f"{dataset}, split {split}", list(data.column_names), read, len(data), types)


def resolve_text_column(source: Source, given: str | None, saved: str | None) -> str:
    """--text-column, else one of the usual names (as training finds it), else the model's own text column."""
    if given:
        if given not in source.columns:
            raise DataError(f"{source.name}: no column {given!r} (--text-column); its columns: "
                            f"{', '.join(source.columns)}")
        return given
    lowered = {column.lower(): column for column in source.columns}
    found = next((lowered[name] for name in TEXT_COLUMNS if name in lowered), None)
    if found is None and saved in source.columns:
        found = saved
    if found is None:
        raise DataError(f"{source.name}: no text column found among {', '.join(source.columns)} (nor the model's "
                        f"{saved!r}); name it with --text-column")
    return found


# ----------------------------------------------------------------------------- writing


def cell(value):
    """A value as a csv cell: a list as JSON text, a null as an empty cell."""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


class DelimitedWriter:
    def __init__(self, stream, names: list[str], delimiter: str):
        self.stream, self.names = stream, names
        self.writer = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
        self.writer.writerow(names)

    def write(self, columns: dict[str, list]) -> None:
        self.writer.writerows(zip(*([cell(value) for value in columns[name]] for name in self.names)))

    def close(self) -> None:
        self.stream.flush()


class JsonLinesWriter:
    def __init__(self, stream, names: list[str]):
        self.stream, self.names = stream, names

    def write(self, columns: dict[str, list]) -> None:
        lines = (json.dumps(dict(zip(self.names, row)), ensure_ascii=False, default=str)
                 for row in zip(*(columns[name] for name in self.names)))
        self.stream.write("".join(line + "\n" for line in lines))
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


def prediction_type(name: str) -> pa.DataType:
    """A prediction column's parquet type: label a string, labels and scores lists, every score a float64."""
    return LIST_TYPES.get(name) or (pa.string() if name == "label" else pa.float64())


class ParquetOutput:
    """One row group per chunk, through pyarrow's ParquetWriter. known_types: the type of each column known before
    any row is read (the predictions', the text's, an id column's type in a parquet file or a data set); any other
    (an id column of a csv file, say) takes the type of its first chunk."""

    def __init__(self, path: Path, names: list[str], known_types: dict):
        self.path, self.names, self.known_types = path, names, known_types
        self.writer = None

    def schema(self, columns: dict[str, list]) -> pa.Schema:
        types = []
        for name in self.names:
            kind = self.known_types.get(name)
            if kind is None:
                kind = pa.array(columns.get(name, [])).type
                kind = pa.string() if pa.types.is_null(kind) else kind
            types.append(pa.field(name, kind))
        return pa.schema(types)

    def write(self, columns: dict[str, list]) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema(columns))
        try:
            table = pa.Table.from_pydict(columns, schema=self.writer.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise DataError(f"a column changes type midway, so it cannot go in one parquet column: {error}") from None
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is None:  # no rows: an empty file with the columns
            self.write({name: [] for name in self.names})
        self.writer.close()

    def abort(self) -> None:
        """Close the file of a failed run (its temporary file is removed next)."""
        if self.writer is not None:
            self.writer.close()


def output_format(output: str) -> str:
    if output == STDOUT:
        return "jsonl"
    suffix = Path(output).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ConfigError(f"--output {output}: unknown output format {suffix or '(no extension)'!r}; end the name "
                          f"in {', '.join(OUTPUT_FORMATS)}, or give - for JSON lines on stdout")
    return OUTPUT_FORMATS[suffix]


def check_output(output: str, force: bool, input_path=None) -> None:
    """Refuse an output that is there already (unless force), is a directory, or is the input, before any work."""
    output_format(output)
    if output == STDOUT:
        return
    path = Path(output)
    if path.is_dir():
        raise ConfigError(f"--output {output} is a directory; give a file name")
    if input_path is not None and path.exists() and path.resolve() == Path(input_path).resolve():
        raise ConfigError(f"--output {output} is the input file; write the predictions somewhere else")
    if path.exists() and not force:
        raise ConfigError(f"--output {output} exists; give --force to replace it")


@contextmanager
def opened_writer(output: str, names: list[str], known_types: dict):
    """The writer for `output`'s format, on stdout or on a temporary file that becomes `output` at the end."""
    kind = output_format(output)
    if output == STDOUT:
        writer = JsonLinesWriter(sys.stdout, names)
        yield writer
        writer.close()
        return
    with atomic_path(Path(output)) as temporary:
        if kind == "parquet":
            writer = ParquetOutput(temporary, names, known_types)
            try:
                yield writer
            except BaseException:
                writer.abort()
                raise
            writer.close()
            return
        with open(temporary, "w", encoding="utf-8", newline="") as stream:
            writer = (JsonLinesWriter(stream, names) if kind == "jsonl" else
                      DelimitedWriter(stream, names, "\t" if kind == "tsv" else ","))
            yield writer
            writer.close()
