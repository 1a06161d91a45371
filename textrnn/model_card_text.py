"""What a model card says, from config.json and the report: the metrics, the language, the data set, the
`textrnn train` command that trains the model again, and each Markdown section (model_card.py writes the card).
"""

import json
import math
import re
import shlex
from pathlib import Path, PureWindowsPath

from .model import ModelConfig, RNNClassifier
from .tasks import task_of_model
from .tokenizer import UNSPACED_SCRIPTS, UNSPACED_SHARE

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
        model = RNNClassifier(ModelConfig(**model_settings), device="meta")
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
    if model.get("linear_ngrams"):
        fitted = config.get("linear_model") or {}
        scores = fitted.get("validation") or {}
        measured = (f" (validation {fitted.get('metric', 'metric')}: network {scores['network']:.2%}, linear model "
                    f"{scores['linear']:.2%}, mixed {scores['mixed']:.2%})" if scores else "")
        lines.append(f"- **Linear model:** a logistic regression (C {fitted.get('C', '?')}) on the TF-IDF of each "
                     f"text's distinct runs of 1 to {model['linear_ngrams']} tokens, "
                     f"{model.get('linear_features', 1) - 1:,} of them; its logits make up "
                     f"{model.get('linear_share', 0):.0%} of the output, a share chosen on the validation split"
                     f"{measured}.")
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
