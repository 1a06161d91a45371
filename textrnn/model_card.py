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
from pathlib import Path

from .checkpoint import read_config, read_model_config
from .errors import ModelDirError
from .fileio import atomic_write
from .model_card_text import (
    dataset_of,
    export_section,
    intro,
    labels_section,
    languages,
    limits_section,
    local_name,
    model_section,
    reported_metrics,
    results_section,
    safe_name,
    split_of,
    training_section,
    usage_section,
)
from .tasks import task_of_model

CARD_FILE = "README.md"
REPORT_FILE = "eval_report.json"


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
