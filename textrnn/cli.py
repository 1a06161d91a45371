"""The `textrnn` command line: train, evaluate, predict.

    textrnn train --dataset ../shared/data/sst2 --output runs/sst2
    textrnn evaluate runs/sst2 --dataset ../shared/data/sst2 --split validation
    textrnn predict runs/sst2 "a gorgeous, witty film" "a dull mess"
    cat reviews.txt | textrnn predict runs/sst2 -

Mistakes in the input (a missing file, an unknown option value, a broken model
directory) print one line and exit with status 2; TEXTRNN_DEBUG=1 shows the traceback.
"""

import argparse
import codecs
import json
import os
import sys
from pathlib import Path

from . import __version__
from .config import METRICS, PRESETS, TrainConfig
from .errors import TextRNNError

DEFAULTS = TrainConfig()


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the unset ones (None), whose help says where their value comes from."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def from_preset(name: str, help_text: str = "") -> str:
    values = ", ".join(f"{preset} {settings[name]}" for preset, settings in PRESETS.items())
    return f"{help_text + '; ' if help_text else ''}default from the preset: {values}"


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", help="hub name (imdb, name:config), local dataset directory or data file")
    group.add_argument("--train-file", help="csv, tsv, json, jsonl or parquet file")
    group.add_argument("--validation-file", help="(without one, a stratified share of train is held out)")
    group.add_argument("--test-file")
    group.add_argument("--text-column", help="default: detected (text, sentence, review, content, ...)")
    group.add_argument("--label-column", help="default: detected (label, labels, sentiment, ...)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textrnn", description="Recurrent text classifiers: train, evaluate, predict.")
    parser.add_argument("--version", action="version", version=f"textrnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    d = DEFAULTS

    train = commands.add_parser("train", help="train a classifier and write the model and its report",
                                formatter_class=HelpFormatter)
    add_data_arguments(train)
    train.add_argument("--validation-size", type=float, default=d.validation_size,
                       help="share of train held out when there is no validation split")
    train.add_argument("--output", "-o", default=d.output, help="run directory")
    train.add_argument("--force", action="store_true", help="replace an existing run in --output")
    train.add_argument("--resume", nargs="?", const="auto", metavar="DIR",
                       help="continue an interrupted run (default: --output's last/ checkpoint)")
    train.add_argument("--preset", choices=("auto", *PRESETS), default=d.preset,
                       help="settings for sentences (median under 25 words), paragraphs (25 to 99) or documents "
                            "(100 or more); auto picks by the training texts' median length. A flag given "
                            "explicitly wins over its preset")
    train.add_argument("--checkpoint-every", type=float, default=d.checkpoint_every, metavar="SECONDS",
                       help="save a resumable checkpoint this often within an epoch (0: at epoch ends only)")
    group = train.add_argument_group("tokenizer")
    group.add_argument("--tokenizer", choices=("word", "bpe"), default=d.tokenizer)
    group.add_argument("--vocab-size", type=int, default=d.vocab_size)
    group.add_argument("--min-freq", type=int, default=d.min_freq)
    group.add_argument("--max-length", type=int, help=from_preset("max_length", "tokens kept per text"))
    group.add_argument("--truncation", choices=("head", "head+tail"), help=from_preset(
        "truncation", "keep a long text's first tokens, or its first quarter and last three quarters"))
    group = train.add_argument_group("model")
    group.add_argument("--cell", choices=("rnn", "lstm", "gru"), default=d.cell)
    group.add_argument("--embedding-dim", type=int, help=from_preset("embedding_dim"))
    group.add_argument("--hidden-dim", type=int, help=from_preset("hidden_dim"))
    group.add_argument("--num-layers", type=int, default=d.num_layers)
    group.add_argument("--no-bidirectional", dest="bidirectional", action="store_false")
    group.add_argument("--dropout", type=float, help=from_preset("dropout"))
    group.add_argument("--word-dropout", type=float,
                       help=from_preset("word_dropout", "share of tokens dropped (embedding zeroed) while training"))
    group.add_argument("--pooling", help=from_preset(
        "pooling", "last, mean or max over the RNN outputs, or several joined by '+' (max+mean)"))
    group.add_argument("--chunk-length", type=int, default=d.chunk_length,
                       help="read long texts in independent chunks of this many tokens (0: whole texts); "
                            "pooling still spans the whole text")
    group.add_argument("--embedding-init", choices=("random", "svd"), help=from_preset(
        "embedding_init", "svd: start from word vectors of the training texts' co-occurrence counts"))
    group.add_argument("--embeddings", metavar="FILE", help="initial word vectors, GloVe/word2vec text format")
    group = train.add_argument_group("optimisation")
    group.add_argument("--batch-size", type=int, help=from_preset("batch_size"))
    group.add_argument("--epochs", type=int, help=from_preset("epochs"))
    group.add_argument("--lr", type=float, help=from_preset("lr"))
    group.add_argument("--weight-decay", type=float, default=d.weight_decay)
    group.add_argument("--clip", type=float, default=d.clip, help="gradient norm clipping")
    group.add_argument("--warmup", type=float, default=d.warmup, help="share of steps with linear warm-up")
    group.add_argument("--average-decay", type=float, default=d.average_decay,
                       help="keep, validate and save an exponential moving average of the weights with this "
                            "decay per step (0.999, say); 0: off")
    group.add_argument("--pretrain-epochs", type=int, help=from_preset(
        "pretrain_epochs", "epochs of language-model pre-training of the encoder on the training texts first"))
    group.add_argument("--pretrain-lr", type=float, default=d.pretrain_lr, help="default: --lr")
    group.add_argument("--patience", type=int, default=d.patience, help="early stopping, in epochs")
    group.add_argument("--metric", choices=METRICS, default=d.metric, help="validation metric for early stopping")
    group.add_argument("--seed", type=int, default=d.seed)
    group.add_argument("--device", default=d.device, help="auto, cpu, cuda or cuda:N")
    group.add_argument("--amp", action="store_true", help="mixed precision: float16 on CUDA, bfloat16 on the CPU")
    group.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")

    evaluate = commands.add_parser("evaluate", help="evaluate a saved model on a dataset split")
    evaluate.add_argument("model_dir")
    add_data_arguments(evaluate)
    evaluate.add_argument("--split", default="test", help="split to evaluate (default: test)")
    evaluate.add_argument("--output", "-o", help="where to write the report (default: MODEL_DIR/eval-SPLIT)")
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--batch-size", type=int, default=256)

    predict = commands.add_parser("predict", help="classify texts; JSON lines out")
    predict.add_argument("model_dir")
    predict.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify; '-' reads one text per stdin line")
    predict.add_argument("--top-k", type=int, default=1, help="labels per text, 0 for all")
    predict.add_argument("--device", default="cpu")
    predict.add_argument("--batch-size", type=int, default=256)
    return parser


def run_train(args) -> int:
    from .train import train

    values = {key: value for key, value in vars(args).items() if key != "command"}
    summary = train(TrainConfig.from_dict(values))
    return 130 if summary["interrupted"] else 0  # stopped by Ctrl-C: a resumable run, not a finished one


def run_evaluate(args) -> int:
    from .data import load_splits, prepare_split, quiet_datasets
    from .evaluate import evaluate_texts, format_report_line
    from .inference import load

    quiet_datasets()
    classifier = load(args.model_dir, device=args.device)
    raw = load_splits(args.dataset, args.train_file, args.validation_file, args.test_file)
    split = prepare_split(raw, args.split, args.text_column or classifier.config.get("text_column"),
                          args.label_column or classifier.config.get("label_column"), classifier.labels)
    output = Path(args.output or Path(args.model_dir) / f"eval-{args.split}")
    report = evaluate_texts(classifier, split["text"], split["label"], output, title=f"{args.model_dir}: {args.split}")
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


def run_predict(args) -> int:
    from .inference import classify_text, load

    if not args.texts:
        raise TextRNNError("no text given: pass texts as arguments, or '-' to read them from stdin")
    if args.top_k < 0:
        raise TextRNNError(f"--top-k must be 0 (all labels) or more, got {args.top_k}")
    classifier = load(args.model_dir, device=args.device)
    top_k = args.top_k or None
    for chunk in chunks(read_texts(args.texts), 1024):
        for result in classify_text(chunk, classifier, top_k=top_k, batch_size=args.batch_size):
            print(json.dumps(result, ensure_ascii=False))
        sys.stdout.flush()
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    runners = {"train": run_train, "evaluate": run_evaluate, "predict": run_predict}
    try:
        return runners[args.command](args)
    except BrokenPipeError:  # the reader went away (textrnn predict ... | head): stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # else the flush at exit fails on the closed pipe once more
        os.close(devnull)
        return 141  # 128 + SIGPIPE, what a shell reports for a command stopped by a closed pipe
    except (TextRNNError, ValueError, TypeError, OSError) as error:  # OSError: a missing file, a full disk
        if os.environ.get("TEXTRNN_DEBUG"):
            raise
        message = " ".join(str(error).split())  # one line, even when a library's message has several
        print(f"textrnn {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"textrnn {args.command}: interrupted", file=sys.stderr)
        return 130
