"""The `textrnn` command line: train, evaluate, predict.

    textrnn train --dataset ../shared/data/sst2 --output runs/sst2
    textrnn tune --dataset ../shared/data/sst2 --timeout 20m --output runs/sst2-tune
    textrnn train --config runs/sst2-tune/best_config.json --output runs/sst2-best
    textrnn evaluate runs/sst2 --dataset ../shared/data/sst2 --split validation
    textrnn predict runs/sst2 "a gorgeous, witty film" "a dull mess"
    cat reviews.txt | textrnn predict runs/sst2 -
    textrnn export runs/sst2 --output runs/sst2-onnx --quantize int8
    textrnn serve runs/sst2 --port 8080
    textrnn explain runs/sst2 "a gorgeous, witty film" --html explained.html

Mistakes in the input (a missing file, an unknown option value, a broken model
directory: errors.TextRNNError) print one line and exit with status 2; TEXTRNN_DEBUG=1
shows their traceback. Any other exception is a bug: it prints its traceback, says
so, and exits with status 1.
"""

import argparse
import codecs
import errno
import json
import os
import sys
import traceback
import typing
from dataclasses import MISSING, fields
from pathlib import Path

from .version import __version__
from .training.config import PRESET_FIELDS, PRESETS, SEARCHABLE, TrainConfig, flag_name, read_config_file
from .errors import TextRNNError

TUNE_EXCLUDED = ("output", "resume", "force")  # a study is continued, not replaced: the same command again
TUNE_OPTIONS = ("timeout", "trials", "search", "pruner", "storage", "study_name")
DATA_FIELDS = ("dataset", "train_file", "validation_file", "test_file", "text_column", "label_column")


def flag_help(spec) -> str:
    """A field's help line with its default, or, for a preset's setting, each preset's value."""
    text = spec.metadata["help"]
    if spec.name in PRESET_FIELDS:
        values = ", ".join(f"{preset} {settings[spec.name]}" for preset, settings in PRESETS.items())
        return f"{text}; default from the preset: {values}"
    if spec.type is bool or spec.default in (None, MISSING):
        return text
    return f"{text} (default: {spec.default})"


def add_config_arguments(parser: argparse.ArgumentParser, names=None) -> None:
    """One flag per TrainConfig field (or per field in `names`), made from the field's type, default and metadata,
    as HfArgumentParser does. A flag left out stays out of the parsed namespace (argparse.SUPPRESS), so the
    settings a user gave explicitly are known exactly; TrainConfig fills in the rest."""
    groups = {}
    for spec in fields(TrainConfig):
        if names is not None and spec.name not in names:
            continue
        options = {key: value for key, value in spec.metadata.items() if key not in ("help", "group", "aliases")}
        group_name = spec.metadata["group"]
        group = groups.get(group_name) or groups.setdefault(group_name, parser.add_argument_group(group_name))
        if spec.type is bool:  # a switch: --amp turns a False default on, --no-progress a True one off
            options["action"] = "store_false" if spec.default else "store_true"
        else:
            options["type"] = next(t for t in (*typing.get_args(spec.type), spec.type) if t is not type(None))
        group.add_argument(flag_name(spec.name), *spec.metadata.get("aliases", ()), dest=spec.name,
                           default=argparse.SUPPRESS, help=flag_help(spec), **options)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textrnn", description="Recurrent text classifiers: train, evaluate, predict.")
    parser.add_argument("--version", action="version", version=f"textrnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in (add_train, add_tune, add_evaluate, add_predict, add_serve, add_explain, add_export):
        add_command(commands)
    return parser


def add_train(commands) -> None:
    train = commands.add_parser("train", help="train a classifier and write the model and its report")
    train.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                       help="settings from a JSON file of the flags' names (max_length, ...), such as tune's "
                       "best_config.json; flags given as well win over it")
    add_config_arguments(train)


def add_tune(commands) -> None:
    tune = commands.add_parser("tune", help="search hyper-parameters with Optuna: training runs in RUN/trials, "
                               "the best by the validation metric")
    add_config_arguments(tune, [spec.name for spec in fields(TrainConfig) if spec.name not in TUNE_EXCLUDED])
    search = tune.add_argument_group("search")
    search.add_argument("--output", "-o", required=True, metavar="RUN", help="the study's directory: trials/, "
                        "study.db, best_config.json, the plots")
    search.add_argument("--timeout", help="start no new trial after this long: 90 or 90s, 20m, 1.5h (a trial "
                        "running then finishes)")
    search.add_argument("--trials", type=int, help="most new trials in this session")
    search.add_argument("--search", metavar="NAMES", help="the settings to search, comma-separated (default: those "
                        f"of {', '.join(SEARCHABLE)} that no flag fixes)")
    search.add_argument("--pruner", choices=("median", "hyperband", "none"), default="median",
                        help="stops trials whose validation metric lags (default: median)")
    search.add_argument("--storage", metavar="URL", help="Optuna database: machines given the same URL tune one "
                        "study together (default: sqlite:///OUTPUT/study.db)")
    search.add_argument("--study-name", default="textrnn", help="(default: textrnn)")


def add_device_and_batch_size(parser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=256, help="texts per batch (default: 256)")
    add_engine(parser)


ENGINE_CHOICES = ("auto", "torch", "onnx")  # textrnn.load's engines (inference.ENGINES)


def add_engine(parser) -> None:
    parser.add_argument("--engine", choices=ENGINE_CHOICES, default="auto",
                        help="what runs the model: torch (PyTorch), onnx (onnxruntime: an ONNX copy made at load "
                        "and checked against PyTorch) or auto (onnx on the CPU when onnxruntime is installed and "
                        "the copy matches, else torch); an export (model.onnx) always runs onnx (default: auto)")


def add_evaluate(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="evaluate a saved model on a dataset split")
    evaluate.add_argument("model_dir")
    add_config_arguments(evaluate, DATA_FIELDS)
    evaluate.add_argument("--split", default="test", help="split to evaluate (default: test)")
    evaluate.add_argument("--output", "-o", help="where to write the report (default: MODEL_DIR/eval-SPLIT)")
    add_device_and_batch_size(evaluate)


def add_predict(commands) -> None:
    predict = commands.add_parser("predict", help="classify texts, or every row of a file (--input) or data set "
                                  "split (--dataset); JSON lines, csv, tsv or parquet out")
    predict.add_argument("model_dir")
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify; '-' reads one text per stdin line")
    predict.add_argument("--top-k", type=int, help="labels per text, 0 for all (default: 1; a multi-label model's "
                         "'scores' list every label)")
    predict.add_argument("--threshold", type=float, help="as fastText's predict-prob: only the labels scoring at "
                         "least this (0 to 1); single-label results become lists, possibly empty; a multi-label "
                         "model's labels are those scoring at least it, in place of its tuned thresholds")
    add_device_and_batch_size(predict)
    files = predict.add_argument_group("files in, files out (docs/predicting.md)")
    files.add_argument("--input", "-i", metavar="FILE", help="classify every row of a csv, tsv, json, jsonl, parquet "
                       "or txt (one text per line) file")
    files.add_argument("--dataset", metavar="D", help="classify every row of a split of a data set (a directory, "
                       "a file or a hub name, as train reads it)")
    files.add_argument("--split", help="the --dataset split to classify (default: test)")
    files.add_argument("--output", "-o", metavar="FILE", help="where the predictions go; the extension picks the "
                       "format: .csv, .tsv, .jsonl or .json (JSON lines), .parquet; - for JSON lines on stdout "
                       "(default: -)")
    files.add_argument("--text-column", help="the column of texts (default: text, sentence, review, ... as "
                       "training finds it, else the model's own)")
    files.add_argument("--id-column", help="an input column to copy into the output as each row's id (default: "
                       "'row', the row number from 0)")
    files.add_argument("--keep-text", action="store_true", help="copy the text column into the output too")
    files.add_argument("--force", action="store_true", help="replace --output if it exists")
    files.add_argument("--chunk-size", type=int, default=8192, help="rows read, classified and written at a time "
                       "(default: 8192)")
    files.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines on stderr")


def add_serve(commands) -> None:
    serve = commands.add_parser("serve", help="serve a model over HTTP: /predict, /explain, a page at /, /docs")
    serve.add_argument("model_dir")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    serve.add_argument("--max-batch-size", type=int, default=32,
                       help="texts that concurrent requests may share one forward pass with (default: 32)")
    serve.add_argument("--batch-wait-ms", type=float, default=2.0,
                       help="how long a batch waits for more requests while others are coming (default: 2)")
    serve.add_argument("--no-batching", action="store_true", help="one forward pass per request, in a thread")
    serve.add_argument("--max-body-bytes", type=int, default=1_000_000, help="request body limit (default: 1000000)")
    serve.add_argument("--max-inputs", type=int, default=256, help="texts per request (default: 256)")
    serve.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    serve.add_argument("--threads", type=int, default=1, help="PyTorch's threads per forward pass (default: 1)")
    serve.add_argument("--workers", type=int, default=1, help="server processes sharing the port, each with its "
                       "own model and --threads (default: 1)")
    add_engine(serve)
    serve.add_argument("--no-access-log", action="store_true", help="do not log each request")


def add_explain(commands) -> None:
    explain = commands.add_parser("explain", help="per-token attributions of a label; JSON lines out, --html a page")
    explain.add_argument("model_dir")
    explain.add_argument("texts", nargs="*", metavar="TEXT", help="texts to explain; '-' reads one text per stdin line")
    explain.add_argument("--label", help="the label to explain (default: the predicted one)")
    explain.add_argument("--method", help="integrated_gradients, or occlusion (exact, texts up to 200 tokens) "
                         "(default: the model's own: integrated_gradients, occlusion for an ONNX export)")
    explain.add_argument("--steps", type=int, help="Integrated Gradients steps (default: 50)")
    explain.add_argument("--html", metavar="FILE", help="also write every explanation to one standalone HTML page")
    explain.add_argument("--device", default="cpu", choices=["cpu"],
                         help="explanations take gradients on the CPU (default: cpu)")


def add_export(commands) -> None:
    export = commands.add_parser("export", help="write a saved model as ONNX (model.onnx), run with onnxruntime")
    export.add_argument("model_dir")
    export.add_argument("--output", "-o", required=True, help="directory for model.onnx, config.json, tokenizer.json")
    export.add_argument("--quantize", choices=["int8"], help="int8: onnxruntime's dynamic quantization")


def run_train(args) -> int:
    from .training.train import train

    given = {key: value for key, value in vars(args).items() if key not in ("command", "config")}
    if "config" in vars(args):  # the file's settings count as given; the flags win over them
        given = {**read_config_file(args.config), **given}
    summary = train(TrainConfig(**given), given=set(given))
    return 130 if summary["interrupted"] else 0  # stopped by Ctrl-C: a resumable run, not a finished one


def run_tune(args) -> int:
    try:
        from .training.tune import tune
    except ModuleNotFoundError as error:
        if error.name != "optuna":
            raise
        raise TextRNNError("textrnn tune needs Optuna: pip install 'textrnn[tune]'") from None

    fixed = {key: value for key, value in vars(args).items() if key not in ("command", "output", *TUNE_OPTIONS)}
    options = {name: getattr(args, name) for name in TUNE_OPTIONS}
    _, interrupted = tune(fixed, args.output, **options)
    return 130 if interrupted else 0


def run_evaluate(args) -> int:
    from .data import load_splits, prepare_split, quiet_datasets
    from .evaluate import evaluate_texts, format_report_line
    from .inference import load
    from .label_lists import column_values

    quiet_datasets()
    classifier = load(args.model_dir, device=args.device, engine=args.engine)
    data = {name: getattr(args, name, None) for name in DATA_FIELDS}
    raw = load_splits(data["dataset"], data["train_file"], data["validation_file"], data["test_file"])
    saved = classifier.config
    split = prepare_split(raw, args.split, data["text_column"] or saved.get("text_column"),
                          data["label_column"] or saved.get("label_column"), classifier.labels,
                          problem_type=saved.get("problem_type", "single"),
                          label_separator=saved.get("label_separator"), label_columns=saved.get("label_columns"))
    output = Path(args.output or Path(args.model_dir) / f"eval-{args.split}")
    if output.is_symlink() and not args.output:  # planted in the model directory: the report would go where it points
        raise TextRNNError(f"{output} is a symbolic link: textrnn writes the report only into a real directory of "
                           "the model; remove the link, or give --output")
    report = evaluate_texts(classifier, column_values(split, "text"), column_values(split, "label"), output,
                            title=f"{args.model_dir}: {args.split}", batch_size=args.batch_size)
    print(f"{args.split}: {format_report_line(report)}")
    print(f"report written to {output}")
    return 0


def decode_text(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TextRNNError(f"{where} is not valid UTF-8: byte {raw[error.start]:#04x} at byte position "
                           f"{error.start}; convert the input to UTF-8 (iconv -f LATIN1 -t UTF-8, say)") from None


def read_texts(texts: list[str]):
    """The command-line texts, with '-' replaced by stdin's lines (read lazily, so output streams).

    stdin is read as bytes and decoded here, so that a line that is not UTF-8 is named by its number.
    An argument that is not UTF-8 reaches Python as lone surrogates (os.fsdecode): its bytes are checked too.
    """
    for number, text in enumerate(texts, start=1):
        if text != "-":
            yield decode_text(os.fsencode(text), f"argument {number}")
            continue
        for line_number, line in enumerate(sys.stdin.buffer, start=1):
            if line_number == 1:
                line = line.removeprefix(codecs.BOM_UTF8)  # as Windows editors write UTF-8
            yield decode_text(line, f"stdin line {line_number}").rstrip("\r\n")


def chunks(items, size: int):
    """Lists of up to `size` items; when reading an item fails, the items before it come out first."""
    chunk = []
    try:
        for item in items:
            chunk.append(item)
            if len(chunk) == size:
                yield chunk
                chunk = []
    except TextRNNError:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


FILE_ONLY_OPTIONS = ("output", "split", "text_column", "id_column", "keep_text", "force")


def refuse_data_file_texts(texts: list[str]) -> None:
    """A TEXT that names an existing data file was meant as --input (textrnn predict MODEL valid.csv): say so."""
    from .tabular_io import DATA_EXTENSIONS

    for number, text in enumerate(texts, start=1):
        if Path(text).suffix.lower() in DATA_EXTENSIONS and os.path.isfile(text):
            raise TextRNNError(f"argument {number}, {text!r}, is a file: to classify its rows give --input {text} "
                               f"(to classify that text itself, pass it on stdin: echo {text!r} | textrnn predict "
                               "MODEL -)")


def run_predict_files(args, top_k) -> int:
    """textrnn predict --input FILE / --dataset D: every row classified, the predictions written to --output."""
    from .inference import load
    from .predict_files import predict_file

    if args.texts:
        raise TextRNNError("give texts to classify or --input/--dataset, not both")
    if args.input and args.dataset:
        raise TextRNNError("give --input FILE or --dataset D, not both")
    if args.split and not args.dataset:
        raise TextRNNError("--split is for --dataset D; --input FILE is read whole")
    model = args.model_dir if args.engine == "auto" else load(args.model_dir, device=args.device, engine=args.engine)
    summary = predict_file(model, args.input, args.output or "-", dataset=args.dataset,
                           split=args.split or "test", text_column=args.text_column, id_column=args.id_column,
                           keep_text=args.keep_text, top_k=top_k, batch_size=args.batch_size,
                           chunk_size=args.chunk_size, force=args.force, device=args.device,
                           progress=not args.no_progress)
    rate = summary["rows"] / max(summary["seconds"], 1e-9)
    where = "stdout" if summary["output"] == "-" else summary["output"]
    print(f"textrnn predict: {summary['rows']} rows of {summary['source']} in {summary['seconds']:.1f} s "
          f"({rate:.0f} texts/s), written to {where}", file=sys.stderr)
    return 0


def run_predict(args) -> int:
    from .inference import classify_text, load

    if args.top_k is not None and args.top_k < 0:
        raise TextRNNError(f"--top-k must be 0 (all labels) or more, got {args.top_k}")
    top_k = "auto" if args.top_k is None else args.top_k or None
    if args.input or args.dataset:
        if args.threshold is not None:
            raise TextRNNError("--threshold is for texts given as arguments or on stdin; --input writes every label's "
                               "score, to filter as you like")
        return run_predict_files(args, top_k)
    given = [name for name in FILE_ONLY_OPTIONS if getattr(args, name) not in (None, False)]
    if given:
        raise TextRNNError(f"--{given[0].replace('_', '-')} is for --input FILE or --dataset D")
    if not args.texts:
        raise TextRNNError("no text given: pass texts as arguments, '-' to read them from stdin, or --input FILE")
    refuse_data_file_texts(args.texts)
    classifier = load(args.model_dir, device=args.device, engine=args.engine)
    for chunk in chunks(read_texts(args.texts), 1024):
        for result in classify_text(chunk, classifier, top_k=top_k, batch_size=args.batch_size,
                                    threshold=args.threshold):
            print(json.dumps(result, ensure_ascii=False))
        sys.stdout.flush()
    return 0


def run_explain(args) -> int:
    from .explanations import explain, render_html_page
    from .inference import load

    if not args.texts:
        raise TextRNNError("no text given: pass texts as arguments, or '-' to read them from stdin")
    if args.steps is not None and args.method == "occlusion":
        raise TextRNNError("--steps is for integrated_gradients; occlusion has no steps")
    steps = {} if args.steps is None else {"steps": args.steps}
    classifier = load(args.model_dir, device=args.device)
    explanations = []
    for text in read_texts(args.texts):
        explanation = explain(text, classifier, label=args.label, method=args.method, **steps)
        print(json.dumps(explanation, ensure_ascii=False), flush=True)
        explanations.append(explanation)
    if args.html:
        Path(args.html).write_text(render_html_page(explanations), encoding="utf-8")
        print(f"page written to {args.html}", file=sys.stderr)
    return 0


def run_export(args) -> int:
    from .export import export_model

    export_model(args.model_dir, args.output, quantize=args.quantize)
    return 0


def run_serve(args) -> int:
    from .serve import ServeSettings, serve

    settings = ServeSettings(batching=not args.no_batching, max_batch_size=args.max_batch_size,
                             batch_wait_ms=args.batch_wait_ms, max_body_bytes=args.max_body_bytes,
                             max_inputs=args.max_inputs)
    serve(args.model_dir, args.host, args.port, settings, device=args.device, threads=args.threads,
          access_log=not args.no_access_log, engine=args.engine, workers=args.workers)
    return 0


# A file system that cannot take a write: the user's to fix (free space, permissions), whatever raised it.
UNWRITABLE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def is_user_error(error: Exception) -> bool:
    """Mistakes in the input, data, options or model directory, and paths that cannot be read or written or a
    full disk: the user's to fix. Anything else is a bug."""
    if isinstance(error, TextRNNError):
        return True
    return isinstance(error, OSError) and (error.filename is not None or error.errno in UNWRITABLE)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    runners = {"train": run_train, "tune": run_tune, "evaluate": run_evaluate, "predict": run_predict,
               "export": run_export, "explain": run_explain, "serve": run_serve}
    try:
        return runners[args.command](args)
    except BrokenPipeError:  # the reader went away (textrnn predict ... | head): stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # else the flush at exit fails on the closed pipe once more
        os.close(devnull)
        return 141  # 128 + SIGPIPE, what a shell reports for a command stopped by a closed pipe
    except KeyboardInterrupt:
        print(f"textrnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if not is_user_error(error):
            traceback.print_exc()
            print(f"textrnn {args.command}: internal error ({type(error).__name__}): this is a bug in textrnn or a "
                  "library it uses, not a mistake in your input; please report it with the traceback above",
                  file=sys.stderr)
            return 1
        if os.environ.get("TEXTRNN_DEBUG"):
            raise
        message = " ".join(str(error).split())  # one line, even when a library's message has several
        print(f"textrnn {args.command}: error: {message}", file=sys.stderr)
        return 2
