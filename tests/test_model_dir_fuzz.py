"""config.json corrupted field by field, in type and range: loading gives a ModelDirError or a model that classifies.

A tiny single-label model (with a bag of n-grams, so that its fields matter) and a multi-label one (with tuned
thresholds and a temperature per label) are saved once; each case rewrites only config.json, so a load takes
milliseconds. Every field of the model's and the tokenizer's settings and every top-level entry is given each
of CORRUPT_VALUES (and is removed); then seeded random cases corrupt several fields at once. The exported
(onnxruntime) loader is run on a seeded sample of the same cases, since it reads config.json through the same
schema.
"""

import json
import math
import random
import shutil

import pytest
import torch

import textrnn
from textrnn.checkpoint import save_model_dir
from textrnn.errors import ModelDirError
from textrnn.model import ModelConfig, RNNClassifier
from textrnn.tokenizer import TokenizerConfig, train_tokenizer

TEXTS = ["a fine film", "a poor film", "fine acting", "poor plot and poor acting", "a long and fine plot"]
MISSING = object()  # the field removed
CORRUPT_VALUES = [
    MISSING, None, "x", "", "yes", -1, 0, 1, 2, 3, 0.5, 32.0, 1e9, 2**70, -(2**70), float("nan"), float("inf"),
    float("-inf"), True, False, [], {}, [0.5], [0.5, 0.5], [0.5, 0.5, 0.5], ["a", "b"], {"a": 1}, "0" * 64,
    "max+mean", "gru", "head+tail", "multi", "single", 10**30, 1e-300, [1.0, 2.0], [1.0, 2.0, 0.5],
]
MODEL_FIELDS = ("vocab_size", "num_classes", "embedding_dim", "hidden_dim", "num_layers", "cell", "bidirectional",
                "dropout", "word_dropout", "pooling", "chunk_length", "ngrams", "ngram_buckets", "ngram_dim", "pad_id")
TOKENIZER_FIELDS = ("kind", "vocab_size", "min_freq", "max_length", "truncation", "lowercase")
TOP_FIELDS = ("format", "format_version", "textrnn_version", "model", "tokenizer", "labels", "problem_type",
              "thresholds", "global_threshold", "temperature", "text_column", "label_column", "label_columns",
              "label_separator", "training", "tokenizer_choice", "pretraining", "tokenizer_sha256", "export")
FIELDS = ([("model", name) for name in MODEL_FIELDS] + [("tokenizer", name) for name in TOKENIZER_FIELDS]
          + [(None, name) for name in TOP_FIELDS])
RANDOM_CASES = 300
ONNX_SAMPLE = 60  # onnxruntime builds a session per load: tens of milliseconds, so a sample of the cases


def save_tiny_model(directory, problem_type: str, labels: list[str], **model_settings):
    tokenizer = train_tokenizer(TEXTS, TokenizerConfig(min_freq=1))
    torch.manual_seed(0)
    model = RNNClassifier(ModelConfig(vocab_size=tokenizer.get_vocab_size(), num_classes=len(labels),
                                      embedding_dim=4, hidden_dim=4, **model_settings))
    extra = {"problem_type": problem_type, "text_column": "text", "label_column": "label", "label_columns": None,
             "label_separator": "|" if problem_type == "multi" else None, "training": {"epochs": 1},
             "tokenizer_choice": {"asked": "word", "kind": "word"}}
    if problem_type == "multi":
        extra.update(thresholds=[0.4, 0.5, 0.6], global_threshold=0.5, temperature=[0.8, 1.0, 1.25])
    else:
        extra.update(temperature=1.5)
    return save_model_dir(directory, model, tokenizer, TokenizerConfig(min_freq=1), labels, extra)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    return {"single": save_tiny_model(root / "single", "single", ["neg", "pos"], ngrams=2, ngram_buckets=16,
                                      ngram_dim=4, cell="gru"),
            "multi": save_tiny_model(root / "multi", "multi", ["a", "b", "c"], cell="rnn", bidirectional=False)}


def corrupted(config: dict, section: str | None, name: str, value) -> dict:
    config = json.loads(json.dumps(config))  # a deep copy
    target = config if section is None else config.get(section)
    if not isinstance(target, dict):  # an earlier corruption replaced the section itself
        return config
    if value is MISSING:
        target.pop(name, None)
    else:
        target[name] = value
    return config


def outcome(directory, config: dict) -> str | None:
    """None when loading `config` gives a ModelDirError or a model that classifies a text; else what went wrong."""
    (directory / "config.json").write_text(json.dumps(config))  # NaN and Infinity as JSON's extension writes them
    try:
        classifier = textrnn.load(directory)
    except ModelDirError:
        return None
    except Exception as error:  # what the test is for: anything else is a crash
        return f"load raised {type(error).__name__}: {error}"
    try:
        result = textrnn.classify_text("a fine film and a poor plot", classifier)
        scores = classifier.predict_proba(["a fine film", ""])
    except Exception as error:
        return f"loaded, then classify_text raised {type(error).__name__}: {error}"
    given = result["labels"] if "labels" in result else [result["label"]]  # multi-label, or single-label
    if not set(given) <= set(classifier.labels) or not all(math.isfinite(p) and 0 <= p <= 1 for p in scores.flat):
        return f"loaded, then gave {result!r} and probabilities {scores.tolist()}"
    return None


def failures(directory, original: dict, cases) -> list[str]:
    problems = []
    for changes in cases:
        config = original
        for section, name, value in changes:
            config = corrupted(config, section, name, value)
        if (problem := outcome(directory, config)) is not None:
            problems.append(f"{changes!r:.200}: {problem}")
    return problems


def working_copy(saved, kind: str, tmp_path):
    directory = shutil.copytree(saved[kind], tmp_path / kind)
    return directory, json.loads((directory / "config.json").read_text())


@pytest.mark.parametrize("kind", ["single", "multi"])
@pytest.mark.parametrize("section,name", FIELDS, ids=[f"{s or 'top'}.{n}" for s, n in FIELDS])
def test_each_field_corrupted_loads_or_is_a_model_dir_error(saved, kind, section, name, tmp_path):
    directory, original = working_copy(saved, kind, tmp_path)
    assert outcome(directory, original) is None and textrnn.load(directory)  # the uncorrupted model loads
    assert failures(directory, original, [[(section, name, value)] for value in CORRUPT_VALUES]) == []


def random_cases(seed: int, count: int):
    """`count` lists of 1 to 4 (section, field, value) corruptions, the same for a seed on every machine."""
    generator = random.Random(seed)
    values = CORRUPT_VALUES + [generator.uniform(-2, 2) for _ in range(10)] + [generator.randint(-5, 50)
                                                                               for _ in range(10)]
    return [[(*generator.choice(FIELDS), generator.choice(values)) for _ in range(generator.randint(1, 4))]
            for _ in range(count)]


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_random_corruptions_of_several_fields_load_or_are_a_model_dir_error(saved, kind, tmp_path):
    directory, original = working_copy(saved, kind, tmp_path)
    assert failures(directory, original, random_cases(seed=len(kind), count=RANDOM_CASES)) == []


def test_enough_cases_are_tried():
    assert len(FIELDS) * len(CORRUPT_VALUES) * 2 + RANDOM_CASES * 2 >= 200


@pytest.fixture(scope="module")
def exported(saved, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from textrnn.export import export_model

    output = tmp_path_factory.mktemp("fuzz-onnx") / "single"
    export_model(saved["single"], output, log=lambda line: None)
    return output


def test_the_exported_loader_checks_config_json_alike(exported, tmp_path):
    directory = shutil.copytree(exported, tmp_path / "onnx")
    original = json.loads((directory / "config.json").read_text())
    every_single_change = [[(section, name, value)] for section, name in FIELDS for value in CORRUPT_VALUES]
    sample = random.Random(0).sample(every_single_change, ONNX_SAMPLE // 2) + random_cases(7, ONNX_SAMPLE // 2)
    assert failures(directory, original, sample) == []
