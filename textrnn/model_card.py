"""A model card for a saved or exported model directory: README.md in the Hugging Face form.

    write_model_card("runs/sst2", report)                 # reads runs/sst2/config.json, writes runs/sst2/README.md
    text = model_card(config, report, None, split="test")  # the same text, from the dicts alone

The card is YAML metadata between `---` lines (library_name, pipeline_tag, language where the training texts'
script says it, tags, datasets, metrics and a model-index of the results, as the hub reads them), then Markdown:
what the model is, the `textrnn train` command that trains it again, its results with the split named, its labels
and (where config.json holds them) thresholds, how to load it, and its limits. An exported directory's card says
what was exported, with which quantization, and how close the export came to PyTorch.

Everything comes from config.json and the evaluation report (eval_report.json's dict); nothing is guessed beyond
them: the language is left out unless the tokenizer's choice recorded a script that names one, and no
calibration is claimed unless config.json holds a fitted temperature. File paths are shortened to their last
part, so the card names no directory of the machine the model was trained on.

Used by training and by export alike, this module never imports textrnn.training: the command is rebuilt from
config.json's `training` settings here.
"""

import json
import math
import re
import shlex
from pathlib import Path, PureWindowsPath

import torch

from .checkpoint import read_config, read_model_config
from .errors import ModelDirError
from .fileio import atomic_write
from .model import ModelConfig, RNNClassifier
from .tasks import task_of_model
from .tokenizer import UNSPACED_SCRIPTS, UNSPACED_SHARE

CARD_FILE = "README.md"
REPORT_FILE = "eval_report.json"

# The report's metrics, in the order shown: (report key, the hub's metric type, its name, the metric's arguments).
METRICS = (
    ("accuracy", "accuracy", "Accuracy", None),
    ("macro_f1", "f1", "Macro F1", {"average": "macro"}),
    ("micro_f1", "f1", "Micro F1", {"average": "micro"}),
    ("samples_f1", "f1", "Samples F1", {"average": "samples"}),
    ("subset_accuracy", "exact_match", "Subset accuracy", None),
    ("hamming_loss", "hamming_loss", "Hamming loss", None),
    ("roc_auc", "roc_auc", "ROC-AUC", None),
)
LOWER_IS_BETTER = ("hamming_loss",)
# A multi-label report's `accuracy` is its subset accuracy under the one-number name: shown once, by its own name.
ALIASES = {"accuracy": "subset_accuracy"}

# The languages a script names (the scripts textrnn's tokenizer detects, tokenizer.UNSPACED_SCRIPTS). Han alone
# is Chinese; with kana beside it, Japanese.
SCRIPT_LANGUAGES = {"Han": "zh", "Thai": "th", "Lao": "lo", "Khmer": "km", "Myanmar": "my"}
KANA = ("Hiragana", "Katakana")
KANA_SHARE = 5.0  # % of the letters in kana from which Han-script text is read as Japanese
SCRIPT_SHARE = 10.0  # % of the letters a script needs for its language to be named

# config.json's training settings that say where and how a run ran and reported, never what it learnt: not in the
# command (training.config.REPORTING's among them; this module does not import the training half).
RUN_SETTINGS = ("output", "force", "resume", "progress", "checkpoint_every", "device", "quiet", "progress_every",
                "report_to", "log_every")
# The switches: (the value that needs the flag, the flag). Any other true/false setting is left out.
SWITCHES = {"bidirectional": (False, "--no-bidirectional"), "amp": (True, "--amp")}
PATH_SETTINGS = ("dataset", "train_file", "validation_file", "test_file", "embeddings", "unlabeled")


# ----------------------------------------------------------------------------- the API


def write_model_card(directory, report: dict | None = None, command: str | None = None, *,
                     split: str | None = None) -> Path:
    """Write DIRECTORY/README.md from its config.json and `report` (by default DIRECTORY/eval_report.json, where
    there is one); returns its path. split: the split the report is on (else what config.json implies);
    command: the training command to show in place of the one rebuilt from config.json's training settings."""
    directory = Path(directory)
    config = read_config(directory)
    read_model_config(directory, config)  # the schema checked: a card describes only a config that loads
    if report is None:
        report = read_report(directory)
    text = model_card(config, report, command, split=split, name=directory.absolute().name)
    return atomic_write(directory / CARD_FILE, text.encode("utf-8", "backslashreplace"))


def read_report(directory) -> dict | None:
    """DIRECTORY/eval_report.json, or None where there is none."""
    path = Path(directory) / REPORT_FILE
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ModelDirError(f"{path}: cannot read the report: {type(error).__name__}: {error}") from None
    if not isinstance(report, dict):
        raise ModelDirError(f"{path}: not an evaluation report (a JSON object)")
    return report


def model_card(config: dict, report: dict | None = None, command: str | None = None, *, split: str | None = None,
               name: str | None = None) -> str:
    """The card's text (pure): config.json's dict, the evaluation report's (or None), the training command to show
    (None: rebuilt from config["training"]), the report's split (None: from the report or config.json) and the
    directory's name (None: the training run's --output name)."""
    training = config.get("training") if isinstance(config.get("training"), dict) else {}
    name = safe_name(name or local_name(str(training.get("output") or "")) or "textrnn-model")
    split = split or (report or {}).get("split") or split_of(training)
    split = split if isinstance(split, str) else None
    metrics = reported_metrics(report or {})
    sections = [
        front_matter(config, training, name, split, metrics),
        intro(config, training, name),
        model_section(config),
        labels_section(config),
        training_section(config, training, command),
        results_section(config, report, split, metrics),
        usage_section(name),
        limits_section(config),
    ]
    if isinstance(config.get("export"), dict):
        sections.insert(2, export_section(config["export"], training))
    return "\n\n".join(section for section in sections if section).rstrip() + "\n"


# ----------------------------------------------------------------------------- what the dicts say


def split_of(training: dict) -> str | None:
    """The split `textrnn train` reported on, where its settings say: the test file's, else (files only, no test
    file) the validation split's. A --dataset run's depends on the data set's splits: not known here."""
    if training.get("test_file"):
        return "test"
    if training.get("train_file"):
        return "validation"
    return None


def reported_metrics(report: dict) -> list[tuple[str, str, str, dict | None, float]]:
    """(key, hub type, name, arguments, value) of each metric the report holds as a finite number, in METRICS' order."""
    found = []
    for key, kind, title, arguments in METRICS:
        value = report.get(key)
        if not is_number(value) or (key in ALIASES and ALIASES[key] in report):
            continue
        found.append((key, kind, title, arguments, float(value)))
    return found


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def languages(config: dict) -> list[str]:
    """ISO 639-1 codes of the training texts' languages: what config.json records, else what the script that
    `--tokenizer auto` found names (tokenizer_choice's reason), else none (a word-tokenized set is not guessed)."""
    recorded = config.get("language")
    if isinstance(recorded, str):
        return [recorded]
    if isinstance(recorded, list) and all(isinstance(code, str) for code in recorded):
        return list(recorded)
    reason = (config.get("tokenizer_choice") or {}).get("reason")
    if not isinstance(reason, str):
        return []
    pattern = rf"\b({'|'.join(map(re.escape, UNSPACED_SCRIPTS))}) (\d+(?:\.\d+)?)%"
    shares = {script: float(share) for script, share in re.findall(pattern, reason)}
    if sum(shares.values()) < UNSPACED_SHARE * 100:  # auto read these texts as spaced: their language is unknown
        return []
    kana = sum(shares.pop(script, 0.0) for script in KANA)
    if kana >= KANA_SHARE:
        shares = {"kana": kana + shares.pop("Han", 0.0), **shares}
    codes = {**SCRIPT_LANGUAGES, "kana": "ja"}
    ranked = sorted((share, codes[script]) for script, share in shares.items() if script in codes)
    return [code for share, code in reversed(ranked) if share >= SCRIPT_SHARE]


def dataset_of(training: dict, split: str | None) -> dict | None:
    """{name, type, config?, hub} of the data: a --dataset hub name (and its :config) or a local path's last
    part; for --train-file runs, the name of the file the split came from."""
    dataset = training.get("dataset")
    if isinstance(dataset, str) and dataset:
        if is_local_path(dataset):
            short = local_name(dataset)
            return {"name": short, "type": short, "hub": False}
        hub_id, _, subset = dataset.partition(":")
        return {"name": hub_id, "type": hub_id, **({"config": subset} if subset else {}), "hub": True}
    file = training.get("test_file") if split == "test" else training.get("validation_file") or training.get(
        "train_file")
    if isinstance(file, str) and file:
        return {"name": local_name(file), "type": local_name(file), "hub": False}
    return None


def parameter_count(model_settings) -> int | None:
    """The model's parameters, counted on the meta device (nothing allocated); None where the settings do not
    build a model."""
    try:
        with torch.device("meta"):
            model = RNNClassifier(ModelConfig(**model_settings))
    except (TypeError, ValueError):
        return None
    return sum(parameter.numel() for parameter in model.parameters())


# ----------------------------------------------------------------------------- paths and the command


def is_local_path(value: str) -> bool:
    """As textrnn's data loader reads --dataset: a path that exists here, or one written as a path."""
    try:
        exists = Path(value).expanduser().exists()
    except (OSError, ValueError):
        exists = False
    return exists or value.startswith((".", "/", "~", "\\")) or bool(re.match(r"[A-Za-z]:[\\/]", value))


def local_name(value: str) -> str:
    """A local path's last part (`/data/sets/sst2/` -> `sst2`); anything else as it is."""
    if not is_local_path(value):
        return value
    return PureWindowsPath(value.rstrip("/\\")).name or value.strip("/\\~.") or value  # splits on / and \ both


def safe_name(name: str) -> str:
    return "".join(character if character.isprintable() else "_" for character in name)


def holds_out_validation(training: dict) -> bool | None:
    """Whether the run held its validation split out of train (--validation-size applies): True for a train file
    alone, False beside a validation file, None for a --dataset (it depends on the data set's splits)."""
    if training.get("validation_file"):
        return False
    return True if training.get("train_file") else None


def train_command(training: dict) -> str:
    """The `textrnn train` command with these (resolved) settings: every setting written out, the preset's and
    the tokenizer's choices included, so that no default of another textrnn version changes it; file paths by
    their last part; --output the run's directory name."""
    words = ["textrnn", "train"]
    for key, value in training.items():
        if key in RUN_SETTINGS or value is None:
            continue
        if key == "validation_size" and not holds_out_validation(training):
            continue  # refused where the data has a validation split, and meaningless there
        if key in SWITCHES:
            needed, flag = SWITCHES[key]
            words += [flag] if value == needed else []
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            continue  # a switch or structure this module does not know the flag of
        words += [f"--{key.replace('_', '-')}", local_name(value) if key in PATH_SETTINGS else str(value)]
    output = local_name(str(training.get("output") or "runs/textrnn"))
    return shlex.join([*words, "--output", output])


def shorten_paths(command: str) -> str:
    """A given command line with every local path in it (a word, or a --flag=value's value) shortened."""
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: shorten what looks like an absolute path
        return re.sub(r"(?<![\w.])(/|~/)[^\s'\"]*/([^\s'\"/]+)", r"\2", command)
    shortened = []
    for word in words:
        flag, equals, value = word.partition("=")
        if equals and flag.startswith("--"):
            shortened.append(f"{flag}={local_name(value) if value.startswith(('/', '~', '.')) else value}")
        else:
            shortened.append(local_name(word) if word.startswith(("/", "~", ".")) else word)
    return shlex.join(shortened)


# ----------------------------------------------------------------------------- YAML and Markdown


def to_yaml(value, indent: int = 0) -> list[str]:
    """Block-style YAML of dicts, lists and scalars (every string double-quoted), the way the hub writes cards."""
    pad, lines = " " * indent, []
    if isinstance(value, dict):
        for key, item in value.items():
            if is_scalar(item):
                lines.append(f"{pad}{key}: {yaml_scalar(item)}")
            else:
                lines += [f"{pad}{key}:", *to_yaml(item, indent if isinstance(item, list) else indent + 2)]
        return lines
    for item in value:
        if is_scalar(item):
            lines.append(f"{pad}- {yaml_scalar(item)}")
        else:
            inner = to_yaml(item, indent + 2)
            lines += [f"{pad}- {inner[0].lstrip()}", *inner[1:]]
    return lines


def is_scalar(value) -> bool:
    return not isinstance(value, (dict, list)) or not value


def yaml_scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):  # 1e-05 as 1.0e-05: YAML 1.1 (PyYAML) reads a float only with its dot
        return re.sub(r"^(-?\d+)(e)", r"\1.0\2", repr(value)) if math.isfinite(value) else ".nan"
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    return '"' + "".join(yaml_character(character) for character in str(value)) + '"'


def yaml_character(character: str) -> str:
    """One character of a double-quoted YAML string: printable ones as they are, the rest escaped (YAML refuses
    raw control characters and folds its own line breaks, NEL, U+2028 and U+2029)."""
    point = ord(character)
    if character in '"\\':
        return "\\" + character
    if (0x20 <= point <= 0x7E or 0xA0 <= point <= 0xD7FF or 0xE000 <= point <= 0xFFFD or point >= 0x10000) and \
            point not in (0x2028, 0x2029, 0xFEFF):
        return character
    return f"\\x{point:02X}" if point <= 0xFF else f"\\u{point:04X}" if point <= 0xFFFF else f"\\U{point:08X}"


def md(text) -> str:
    """Text from config.json (a label, a name) as Markdown that shows it as it is, on one line."""
    text = "".join(character if character.isprintable() else " " for character in str(text))
    return re.sub(r"([\\`*_\[\]<>|#~!&$])", r"\\\1", text)


def fenced(code: str, language: str = "") -> str:
    """A fenced code block longer than any run of backticks in `code`."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{code}\n{fence}"


def code(text) -> str:
    """Text from config.json as a Markdown code span (shown as it is, whatever backticks it holds)."""
    text = "".join(character if character.isprintable() else " " for character in str(text))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}" if text.startswith("`") or text.endswith("`") else f"{fence}{text}{fence}"


def percent(value: float) -> str:
    return f"{value * 100:.2f}%"


# ----------------------------------------------------------------------------- the sections


def front_matter(config: dict, training: dict, name: str, split: str | None, metrics: list) -> str:
    task = task_of_model(config)
    cell = str(config.get("model", {}).get("cell", "rnn"))
    metadata = {"library_name": "textrnn", "pipeline_tag": "text-classification"}
    if codes := languages(config):
        metadata["language"] = codes
    metadata["tags"] = list(dict.fromkeys(["textrnn", "text-classification", cell, f"{task.problem_type}-label",
                                           *(["onnx"] if isinstance(config.get("export"), dict) else [])]))
    dataset = dataset_of(training, split)
    if dataset and training.get("dataset"):
        metadata["datasets"] = [dataset["type"]]
    if metrics:
        metadata["metrics"] = list(dict.fromkeys(kind for _, kind, _, _, _ in metrics))
        metadata["model-index"] = [{"name": name, "results": [model_index_result(dataset, split, metrics)]}]
    return "---\n" + "\n".join(to_yaml(metadata)) + "\n---"


def model_index_result(dataset: dict | None, split: str | None, metrics: list) -> dict:
    described = {key: value for key, value in (dataset or {"name": "unnamed", "type": "unnamed"}).items()
                 if key != "hub"}
    if split:
        described["split"] = split
    return {
        "task": {"type": "text-classification", "name": "Text Classification"},
        "dataset": described,
        "metrics": [{"type": kind, "value": value, "name": title, **({"args": arguments} if arguments else {})}
                    for _, kind, title, arguments, value in metrics],
    }


def intro(config: dict, training: dict, name: str) -> str:
    task, model = task_of_model(config), config.get("model", {})
    shape = f"{'bidirectional ' if model.get('bidirectional') else ''}{str(model.get('cell', 'rnn')).upper()}"
    what = (f"A {task.problem_type}-label text classifier ({len(task.labels)} labels): a recurrent ({shape}) "
            f"network trained with textrnn")
    version = config.get("textrnn_version")
    what += f" {md(version)}." if isinstance(version, str) else "."
    if isinstance(config.get("export"), dict):
        source = local_name(str(training.get("output") or "")) or "a textrnn model"
        what = f"An ONNX export of the textrnn model {code(source)}. {what}"
    return f"# {md(name)}\n\n{what}"


def model_section(config: dict) -> str:
    model, tokenizer = config.get("model", {}), config.get("tokenizer", {})
    directions = "both directions" if model.get("bidirectional") else "one direction"
    lines = [
        f"- **Network:** {model.get('num_layers', 1)} layer(s) of {str(model.get('cell', '?')).upper()}, "
        f"{model.get('hidden_dim', '?')} units per direction, reading each text in {directions}; "
        f"{model.get('embedding_dim', '?')}-dimensional token embeddings; {code(model.get('pooling', 'max'))} "
        f"pooling over the RNN outputs, then a linear layer to the {model.get('num_classes', '?')} labels.",
    ]
    if model.get("ngrams"):
        lines.append(f"- **N-gram bag:** runs of 1 to {model['ngrams']} tokens, each a learnt "
                     f"{model.get('ngram_dim', '?')}-dimensional vector ({model.get('ngram_buckets', 0):,} hashed "
                     "buckets), averaged and joined to the pooled RNN state (fastText-style).")
    if model.get("chunk_length"):
        lines.append(f"- **Chunks:** long texts are read in independent chunks of {model['chunk_length']} tokens; "
                     "pooling spans the whole text.")
    if (count := parameter_count(model)) is not None:
        lines.append(f"- **Parameters:** {count:,}.")
    lines.append(f"- **Tokenizer:** {code(tokenizer.get('kind', '?'))} ({tokenizer_reason(config)}), a vocabulary "
                 f"of {model.get('vocab_size', '?'):,} tokens learnt from the training texts"
                 f"{', lowercased' if tokenizer.get('lowercase', True) else ''}; at most "
                 f"{tokenizer.get('max_length', '?')} tokens per text ({truncation(tokenizer)}).")
    lines.append(f"- **Files:** `config.json` (settings, labels), `{weights_file(config)}` (weights), "
                 "`tokenizer.json` (a Hugging Face `tokenizers` file); format version "
                 f"{config.get('format_version', '?')}.")
    return "## Model\n\n" + "\n".join(lines)


def tokenizer_reason(config: dict) -> str:
    choice = config.get("tokenizer_choice") or {}
    if choice.get("asked") == "auto" and isinstance(choice.get("reason"), str):
        return f"chosen by `--tokenizer auto`: {md(choice['reason'])}"
    return "as asked"


def truncation(tokenizer: dict) -> str:
    length = tokenizer.get("max_length", 0)
    if tokenizer.get("truncation") == "head+tail" and isinstance(length, int):
        return (f"a longer text keeps its first {length // 4} and its last {length - length // 4} tokens")
    return "a longer text keeps its first ones"


def weights_file(config: dict) -> str:
    return "model.onnx" if isinstance(config.get("export"), dict) else "model.safetensors"


def labels_section(config: dict) -> str:
    labels, thresholds = config.get("labels") or [], config.get("thresholds")
    if isinstance(thresholds, list) and len(thresholds) == len(labels):
        rows = [f"| {md(label)} | {threshold:.2f} |" for label, threshold in zip(labels, thresholds)]
        head = ("Each label applies where its score reaches its threshold, tuned on the validation split for the "
                "label's F1:\n\n| label | threshold |\n|---|---|")
        global_threshold = config.get("global_threshold")
        tail = (f"\n\n{global_threshold:.2f} was the threshold tuned over all labels together, used for labels with "
                "too few validation positives to tune their own." if is_number(global_threshold) else "")
        return f"## Labels\n\n{head}\n" + "\n".join(rows) + tail
    return "## Labels\n\n" + "\n".join(f"- {md(label)}" for label in labels)


def training_section(config: dict, training: dict, command: str | None) -> str:
    if command:
        shown, how = shorten_paths(command), "It was trained with (file paths shortened to their names):"
    elif training:
        shown = train_command(training)
        how = ("Trained with the settings below: config.json's `training` settings as the run resolved them (the "
               "preset's and the tokenizer's choices written out), file paths shortened to their names.")
    else:
        return "## Training\n\nconfig.json records no training settings."
    notes = [training_data(training)]
    if holds_out_validation(training) is None and is_number(training.get("validation_size")):
        notes.append(f"Where the data set has no validation split, the run held out "
                     f"{percent(training['validation_size'])} of train for one (`--validation-size "
                     f"{training['validation_size']}`); the flag is refused for data that has one, so it is left out.")
    if isinstance(training.get("device"), str) and training["device"] != "auto":
        notes.append(f"It ran on {code(training['device'])}{' with mixed precision' if training.get('amp') else ''}.")
    if training.get("embeddings"):
        vectors = code(local_name(training["embeddings"]))
        notes.append(f"The embedding table started from the word vectors in {vectors}.")
    elif training.get("embedding_init") == "svd":
        notes.append("The embedding table started from word vectors of the training texts' co-occurrence counts "
                     "(PPMI + SVD).")
    notes.append(pretraining_note(config.get("pretraining")))
    return f"## Training\n\n{how}\n\n{fenced(shown, 'bash')}\n\n" + " ".join(note for note in notes if note)


def training_data(training: dict) -> str:
    dataset = training.get("dataset")
    if isinstance(dataset, str) and dataset:
        where = "the local data set" if is_local_path(dataset) else "the Hugging Face hub data set"
        return f"Data: {where} {code(local_name(dataset))}."
    files = [f"{split} {code(local_name(training[key]))}" for split, key in
             (("train", "train_file"), ("validation", "validation_file"), ("test", "test_file"))
             if isinstance(training.get(key), str)]
    return f"Data: the files {', '.join(files)}." if files else ""


def pretraining_note(pretraining) -> str:
    if not isinstance(pretraining, dict):
        return ""
    unlabeled = pretraining.get("unlabeled")
    source = f" and {md(local_name(unlabeled))}" if isinstance(unlabeled, str) else ""
    perplexity = pretraining.get("valid_perplexity")
    last = (f", ending at validation perplexity {perplexity[-1]}" if isinstance(perplexity, list) and perplexity
            and is_number(perplexity[-1]) else "")
    return (f"The encoder was first pre-trained as a language model for {pretraining.get('epochs', '?')} epoch(s) on "
            f"{pretraining.get('texts', '?')} texts (the training texts{source}){last}.")


def results_section(config: dict, report: dict | None, split: str | None, metrics: list) -> str:
    if not metrics:
        return "## Results\n\nNo evaluation report was given for this model: score it with `textrnn evaluate`."
    where = f"the {md(split)} split" if split else "an evaluation split that config.json does not name"
    count = report.get("num_examples")
    size = f" ({count:,} texts)" if isinstance(count, int) and not isinstance(count, bool) else ""
    rows = [f"| {title}{' (lower is better)' if key in LOWER_IS_BETTER else ''} | {value:.4f} |"
            for key, _, title, _, value in metrics]
    text = [f"## Results\n\nOn {where}{size}:\n\n| metric | value |\n|---|---|\n" + "\n".join(rows)]
    if split == "validation":
        fitted = [entry for entry in ("thresholds", "temperature") if config.get(entry) is not None]
        also = f" and fitted the {' and '.join(fitted)} in config.json" if fitted else ""
        text.append(f"> **These figures are on the validation split, which also chose the best epoch{also}:** they "
                    "overstate how the model does on texts it has never seen. Score it on a held-out test set with "
                    "`textrnn evaluate MODEL_DIR --split test`.")
    if isinstance(config.get("export"), dict):
        text.append("These are the PyTorch model's figures, measured before the export; the export was compared "
                    "with it on a probe batch only (see Export).")
    if calibration := calibration_note(report.get("calibration")):
        text.append(calibration)
    return "\n\n".join(text)


def calibration_note(calibration) -> str:
    if not isinstance(calibration, dict):
        return ""
    before, after = ((calibration.get(key) or {}).get("ece") for key in ("before", "after"))
    if not (is_number(before) and is_number(after)):
        return ""
    return (f"Expected calibration error on this split: {before:.4f} before the temperature, {after:.4f} after "
            "(lower is better).")


def export_section(export: dict, training: dict) -> str:
    quantization = export.get("quantization") or "none (float32)"
    lines = [f"- **Format:** {md(export.get('format', 'onnx'))}, opset {export.get('opset', '?')}, run by "
             "onnxruntime (`model.onnx` in place of `model.safetensors`; the `export` extra of textrnn).",
             f"- **Quantization:** {md(quantization)}" + (f": {md(export['quantized'])}." if export.get("quantization")
                                                          and export.get("quantized") else ".")]
    difference = export.get("probe_max_probability_difference")
    if is_number(difference):
        lines.append(f"- **Parity:** the largest difference from the PyTorch model's probabilities on a probe batch "
                     f"of texts of mixed lengths was {difference:.1e}, checked when it was exported.")
    if export.get("torch_version"):
        lines.append(f"- **Exported with:** PyTorch {md(export['torch_version'])}.")
    source = local_name(str(training.get("output") or "")) or "its source"
    return f"## Export\n\nThis directory is `textrnn export` of {code(source)}:\n\n" + "\n".join(lines)


def usage_section(name: str) -> str:
    python = (f"import textrnn\n\nmodel = textrnn.load({json.dumps(name)})\n"
              "print(model(\"an example text\"))            # textrnn.classify_text(text, model) likewise\n"
              "print(model([\"one text\", \"another\"], top_k=None))  # every label's score")
    shell = (f"textrnn predict {shlex.quote(name)} \"an example text\"\n"
             f"textrnn serve {shlex.quote(name)} --port 8080\n"
             "curl -s localhost:8080/predict -H 'content-type: application/json' \\\n"
             "    -d '{\"inputs\": \"an example text\"}'")
    return ("## How to use\n\nWith textrnn installed (its `export` extra for an ONNX export, its `serve` extra for the "
            "server) and this directory as " + code(name) + ":\n\n" + fenced(python, "python") +
            "\n\n" + fenced(shell, "bash"))


def limits_section(config: dict) -> str:
    tokenizer, model = config.get("tokenizer", {}), config.get("model", {})
    codes = languages(config)
    language = (f"It was trained on texts in {', '.join(f'`{code}`' for code in codes)} (by their script)"
                if codes else "config.json does not record the training texts' language")
    lines = [
        f"- Only the first {tokenizer.get('max_length', '?')} tokens of a text are read ({truncation(tokenizer)}); "
        "the rest is ignored.",
        f"- Its vocabulary is the {model.get('vocab_size', '?'):,} tokens learnt from the training texts; any other "
        "token is read as `[UNK]`, so words, spellings and scripts that training did not see carry no meaning.",
        f"- {language}: expect much worse results on other languages and on text unlike the training data.",
        f"- It knows only its {len(config.get('labels') or [])} labels, and always answers with them.",
        calibration_limit(config),
    ]
    return "## Limitations\n\n" + "\n".join(lines)


def calibration_limit(config: dict) -> str:
    temperature = config.get("temperature")
    if is_number(temperature):
        return (f"- The scores are temperature-calibrated on the validation split (temperature {temperature:.3f}); "
                "on data unlike it they may be over- or under-confident.")
    if isinstance(temperature, list) and temperature:
        return ("- The scores are temperature-calibrated on the validation split (one temperature per label); on "
                "data unlike it they may be over- or under-confident.")
    return "- The scores are the network's outputs, not calibrated probabilities: no calibration is claimed."
