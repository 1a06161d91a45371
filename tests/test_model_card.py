"""The model card (textrnn/model_card.py): README.md in the Hugging Face form for a saved and an exported model.

A single-label model (trained from files) and a multi-label one (trained from a local data set directory) are
trained once through `textrnn train`; their cards are checked for YAML the hub reads, results equal to the
report's, a training command that `textrnn train` accepts and that gives back the run's settings, and no path of
this machine. The rest are the pure function's cases: languages, calibration, exports, hostile strings.
"""

import json
import re
import shlex
import subprocess
import sys
from dataclasses import fields

import pytest
import yaml
from helpers import TINY_MODEL, make_texts, write_csv

import textrnn
from textrnn.cli import build_parser, main
from textrnn.model_card import CARD_FILE, model_card, read_report, write_model_card
from textrnn.model_card_text import RUN_SETTINGS, languages, train_command
from textrnn.tokenizer import choose_kind
from textrnn.training.config import TrainConfig

KINDS = ["single", "multi"]
ABSOLUTE_PATH = re.compile(r"(?<![\w/.~-])(/(?:tmp|home|work|root|usr|var|Users|private)\b|[A-Za-z]:\\)")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("card")


@pytest.fixture(scope="module", params=KINDS)
def run(request, root):
    """A tiny model of one kind: single-label from --train-file/--test-file, multi-label from --dataset DIR."""
    kind = request.param
    if kind == "single":
        train_csv = write_csv(root / "train.csv", make_texts(160, seed=1))
        test_csv = write_csv(root / "test.csv", make_texts(40, seed=2))
        data = ["--train-file", str(train_csv), "--test-file", str(test_csv)]
    else:
        dataset = root / "my_set"
        dataset.mkdir()
        for split, count, seed in (("train", 160, 3), ("test", 40, 4)):
            rows = [(text, label + ("|long" if len(text.split()) > 12 else ""))
                    for text, label in make_texts(count, seed)]
            write_csv(dataset / f"{split}.csv", rows, header=("text", "labels"))
        data = ["--dataset", str(dataset), "--label-separator", "|"]
    output = root / f"run-{kind}"
    assert main(["train", *data, "--output", str(output), "--epochs", "1", "--seed", "0", *TINY_MODEL]) == 0
    # what training's finish would pass: a --dataset run's report split is known only to the run
    card = write_model_card(output, split="test" if kind == "multi" else None)
    return {"kind": kind, "dir": output, "card": card.read_text(encoding="utf-8"),
            "config": json.loads((output / "config.json").read_text(encoding="utf-8")), "report": read_report(output)}


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    head, _, _ = card[4:].partition("\n---\n")
    return yaml.safe_load(head)


def card_command(card: str) -> str:
    return next(line for line in card.splitlines() if line.startswith("textrnn train "))


def test_the_card_is_written_beside_the_model(run):
    assert (run["dir"] / CARD_FILE).is_file()
    assert not list(run["dir"].glob(".*.tmp"))  # written atomically, nothing left behind
    assert textrnn.load(run["dir"]).labels == run["config"]["labels"]  # a README.md changes nothing of loading


def test_front_matter_is_the_hubs_metadata(run):
    metadata = front_matter(run["card"])
    assert metadata["library_name"] == "textrnn" and metadata["pipeline_tag"] == "text-classification"
    assert {"text-classification", "lstm", f"{run['kind']}-label"} <= set(metadata["tags"])
    assert "language" not in metadata  # English-looking word-tokenized data: not guessed
    if run["kind"] == "multi":
        assert metadata["datasets"] == ["my_set"]  # a local --dataset by its directory's name
    else:
        assert "datasets" not in metadata  # files are no data set of the hub
    assert set(metadata["metrics"]) <= {"accuracy", "f1", "exact_match", "hamming_loss", "roc_auc"}


def test_model_index_holds_the_reports_values(run):
    (entry,) = front_matter(run["card"])["model-index"]
    (result,) = entry["results"]
    assert entry["name"] == run["dir"].name and result["task"]["type"] == "text-classification"
    assert result["dataset"]["split"] == "test"
    assert result["dataset"]["name"] == ("my_set" if run["kind"] == "multi" else "test.csv")
    keys = {("accuracy", None): "accuracy", ("f1", "macro"): "macro_f1", ("f1", "micro"): "micro_f1",
            ("f1", "samples"): "samples_f1", ("exact_match", None): "subset_accuracy",
            ("hamming_loss", None): "hamming_loss", ("roc_auc", None): "roc_auc"}
    shown = {keys[metric["type"], (metric.get("args") or {}).get("average")]: metric["value"]
             for metric in result["metrics"]}
    assert shown and all(shown[key] == run["report"][key] for key in shown)
    assert "macro_f1" in shown and ("accuracy" in shown) == (run["kind"] == "single")
    if run["kind"] == "multi":  # its accuracy is the subset accuracy: shown once, by that name
        assert {"micro_f1", "samples_f1", "subset_accuracy", "hamming_loss"} <= set(shown)


def test_the_hub_reads_the_results(run):
    card_module = pytest.importorskip("huggingface_hub")
    results = card_module.ModelCard(run["card"]).data.eval_results
    assert results and all(result.dataset_split == "test" and result.task_type == "text-classification"
                           for result in results)
    assert {result.metric_value for result in results} <= {value for value in run["report"].values()
                                                           if isinstance(value, float)}


def test_the_command_is_one_textrnn_train_accepts(run):
    command = card_command(run["card"])
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.command == "train" and args.output == run["dir"].name
    # and it trains the same model: every setting back, the run's own and the paths (now names) aside
    given = {key: value for key, value in vars(args).items() if key not in ("command", "config")}
    rebuilt, saved = TrainConfig(**given).to_dict(), run["config"]["training"]
    paths = ("dataset", "train_file", "validation_file", "test_file")
    for name, value in saved.items():
        if name in RUN_SETTINGS or name == "validation_size" and run["kind"] == "multi":
            continue
        expected = value.rsplit("/", 1)[-1] if name in paths and value else value
        assert rebuilt[name] == expected, name


def test_the_command_knows_every_setting():
    """A new TrainConfig switch needs model_card_text.SWITCHES (or RUN_SETTINGS): else its flag would be left out."""
    switched = {spec.name: not spec.default for spec in fields(TrainConfig) if spec.type is bool}
    settings = TrainConfig(**switched).to_dict()
    words = shlex.split(train_command(settings))
    flags = {word[2:].replace("-", "_").removeprefix("no_") for word in words if word.startswith("--")}
    missing = [spec.name for spec in fields(TrainConfig) if spec.name not in flags | set(RUN_SETTINGS)
               and settings[spec.name] is not None and spec.name != "validation_size"]
    assert missing == []
    assert "--no-bidirectional" in words and "--amp" in words and "--force" not in words
    from textrnn.training import config

    assert set(getattr(config, "REPORTING", ())) <= set(RUN_SETTINGS)  # how a run reports never changes the model


def test_no_path_of_this_machine_is_in_the_card(run, root):
    assert str(root) not in run["card"] and str(root.parent) not in run["card"]
    assert not ABSOLUTE_PATH.search(run["card"]), ABSOLUTE_PATH.search(run["card"])


def test_a_given_command_is_shown_with_its_paths_shortened(run, root):
    command = f"textrnn train --train-file {root}/train.csv --output={root}/out --seed 3"
    card = model_card(run["config"], run["report"], command)
    assert "textrnn train --train-file train.csv --output=out --seed 3" in card and str(root) not in card


def test_the_validation_split_comes_with_its_warning(run):
    card = model_card(run["config"], run["report"], None, split="validation")
    assert "which also chose the best epoch" in card
    assert front_matter(card)["model-index"][0]["results"][0]["dataset"]["split"] == "validation"
    assert "which also chose the best epoch" not in run["card"]


def test_labels_and_thresholds(run):
    config = run["config"]
    if run["kind"] == "multi":
        for label, threshold in zip(config["labels"], config["thresholds"]):
            assert f"| {label} | {threshold:.2f} |" in run["card"]
    else:
        assert "threshold" not in run["card"] and all(f"- {label}\n" in run["card"] for label in config["labels"])


def test_the_model_is_described(run):
    model = textrnn.load(run["dir"]).model
    assert f"**Parameters:** {sum(p.numel() for p in model.parameters()):,}." in run["card"]
    for text in ("LSTM", "16 units per direction", "`max` pooling", "at most 256 tokens", "textrnn.load",
                 "textrnn predict", "textrnn serve"):
        assert text in run["card"], text


def test_tiny_and_huge_values_stay_numbers(run):
    report = {**run["report"], "macro_f1": 5e-05, "accuracy": 1e-300, "num_examples": 10**12}
    (result,) = front_matter(model_card(run["config"], report, None))["model-index"][0]["results"]
    values = {metric["name"]: metric["value"] for metric in result["metrics"]}
    assert values["Macro F1"] == 5e-05 and values.get("Accuracy", 1e-300) == 1e-300


def test_a_card_without_a_report(run):
    card = model_card(run["config"], None, None)
    assert "model-index" not in front_matter(card) and "No evaluation report" in card


@pytest.mark.parametrize("run", ["single"], indirect=True)  # one export is enough
def test_an_exported_models_card(run, root):
    pytest.importorskip("onnxruntime")
    onnx_dir = root / "onnx"
    assert main(["export", str(run["dir"]), "--output", str(onnx_dir)]) == 0
    card = write_model_card(onnx_dir, report=read_report(run["dir"])).read_text(encoding="utf-8")
    record = json.loads((onnx_dir / "config.json").read_text(encoding="utf-8"))["export"]
    metadata = front_matter(card)
    assert "onnx" in metadata["tags"] and metadata["model-index"][0]["name"] == "onnx"
    assert f"An ONNX export of the textrnn model `{run['dir'].name}`" in card
    assert "**Quantization:** none (float32)." in card and f"opset {record['opset']}" in card
    assert f"{record['probe_max_probability_difference']:.1e}" in card
    assert "`model.onnx` (weights)" in card and "the PyTorch model's figures" in card
    assert str(root) not in card
    assert textrnn.load(onnx_dir).labels == run["config"]["labels"]


def test_an_int8_export_says_what_it_quantized(run):
    record = {"format": "onnx", "opset": 18, "quantization": "int8", "probe_max_probability_difference": 0.004,
              "quantized": "the embedding table in 8 bits; 1 LSTM node(s) as int8 DynamicQuantizeLSTM"}
    card = model_card({**run["config"], "export": record}, None, None, name="int8")
    assert "**Quantization:** int8: the embedding table in 8 bits; 1 LSTM node(s) as int8 DynamicQuantizeLSTM." in card
    assert "4.0e-03" in card


@pytest.mark.parametrize("texts, expected", [
    (["这部电影的故事非常感人，演员的表演也很出色。"] * 3, ["zh"]),
    (["この映画はとても面白かったです。また見たいと思います。"] * 3, ["ja"]),
    (["ภาพยนตร์เรื่องนี้สนุกมากและนักแสดงเก่ง"] * 3, ["th"]),
    (["a wonderful film with a moving story"] * 3, []),
    (["a wonderful film, 好看 indeed, with a long and moving story told well"] * 3, []),  # mostly spaced: no guess
])
def test_the_language_comes_from_the_script_auto_found(texts, expected):
    kind, reason = choose_kind(texts)
    assert languages({"tokenizer_choice": {"asked": "auto", "reason": reason, "kind": kind}}) == expected
    assert languages({"language": "en", "tokenizer_choice": {"reason": reason}}) == ["en"]  # recorded wins


def test_a_han_models_card_names_its_language(run):
    _, reason = choose_kind(["这部电影的故事非常感人"])
    card = model_card({**run["config"], "tokenizer_choice": {"asked": "auto", "reason": reason}}, run["report"], None)
    assert front_matter(card)["language"] == ["zh"] and "texts in `zh`" in card


def test_calibration_is_claimed_only_where_config_json_has_a_temperature(run):
    assert ("temperature-calibrated on the validation split" in run["card"]) == ("temperature" in run["config"])
    uncalibrated = {key: value for key, value in run["config"].items() if key != "temperature"}
    assert "no calibration is claimed" in model_card(uncalibrated, None, None)
    card = model_card({**uncalibrated, "temperature": 1.7}, run["report"], None)
    assert "temperature-calibrated on the validation split (temperature 1.700)" in card
    if isinstance(run["config"].get("temperature"), list):  # a temperature per label, where the model has them
        card = model_card({**uncalibrated, "temperature": [1.2] * len(run["config"]["labels"])}, None, None)
        assert "one temperature per label" in card


def test_hub_and_local_data_set_names(run):
    for dataset, name, subset in (("stanfordnlp/sst2", "stanfordnlp/sst2", None),
                                  ("imdb:plain_text", "imdb", "plain_text"), ("/data/sets/sst2/", "sst2", None),
                                  ("../shared/data/ag_news", "ag_news", None)):
        training = {**run["config"]["training"], "dataset": dataset, "train_file": None, "test_file": None}
        card = model_card({**run["config"], "training": training}, run["report"], None, split="test")
        metadata = front_matter(card)
        described = metadata["model-index"][0]["results"][0]["dataset"]
        assert metadata["datasets"] == [name] and described["name"] == name and described.get("config") == subset
        assert "/data/sets" not in card and "../shared" not in card
        assert f"--dataset {shlex.quote(name)}" in card_command(card) and "--validation-size" not in card_command(card)


def test_hostile_strings_stay_yaml_and_one_line_each(run):
    labels = ['a "quoted" | piped\nlabel', "\x01\x85\u2028control", "emoji 😀 `code`", "<script>x</script>", "é"]
    labels = labels[:len(run["config"]["labels"])]
    config = {**run["config"], "labels": labels, "training": {**run["config"]["training"], "output": "runs/we\"ird: x"}}
    card = model_card(config, run["report"], None, name='a "name"\n--- x')
    metadata = front_matter(card)
    assert metadata["model-index"][0]["name"] == 'a "name"_--- x'
    assert "<script>" not in card
    body = card.split("\n## Labels\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines()
            if line.startswith(("- ", "| ")) and not line.startswith(("| label", "|-"))]
    assert len(rows) == len(labels)
    build_parser().parse_args(shlex.split(card_command(card))[1:])


def test_the_module_never_imports_the_training_half():
    code = ("import sys, textrnn.model_card; "
            "print(sorted(name for name in sys.modules if name.startswith('textrnn.training')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
