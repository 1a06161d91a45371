"""`textrnn export`: the ONNX graph against PyTorch, the onnxruntime backend of textrnn.load, int8, bad files."""

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from helpers import make_texts
from test_checkpoint import plant_code

import textrnn
from textrnn.checkpoint import load_model_dir, save_model_dir
from textrnn.cli import main
from textrnn.errors import ModelDirError, TextRNNError
from textrnn.export import PaddedClassifier, export_model, export_onnx
from textrnn.model import CELLS, ModelConfig, RNNClassifier
from textrnn.onnx_backend import OnnxModel
from textrnn.tokenizer import TokenizerConfig, train_tokenizer

POOLINGS = ("last", "mean", "max", "max+mean")
TOLERANCE = 1e-4  # the largest probability difference a float32 export may show (export.PARITY_TOLERANCE)


def random_batches(vocab_size: int, pad_id: int, seed: int = 0):
    """(ids, lengths) batches of mixed lengths, from one token up, one text alone and several batched."""
    generator = torch.Generator().manual_seed(seed)
    for batch, longest in [(1, 1), (1, 9), (2, 1), (6, 2), (7, 17), (16, 31)]:
        lengths = torch.randint(1, longest + 1, (batch,), generator=generator)
        lengths[0] = longest
        ids = torch.randint(1, vocab_size, (batch, longest), generator=generator)
        ids[torch.arange(longest) >= lengths.unsqueeze(1)] = pad_id
        yield ids, lengths


def largest_difference(config: ModelConfig, tmp_path) -> float:
    torch.manual_seed(0)
    model = RNNClassifier(config).eval()
    export_onnx(model, tmp_path / "model.onnx")
    onnx_model = OnnxModel(tmp_path / "model.onnx", config)
    worst = 0.0
    with torch.inference_mode():
        for ids, lengths in random_batches(config.vocab_size, config.pad_id):
            expected = torch.softmax(model(ids, lengths), dim=-1)
            worst = max(worst, float((torch.softmax(onnx_model(ids, lengths), dim=-1) - expected).abs().max()))
    return worst


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", list(CELLS))
def test_float32_graph_matches_pytorch(cell, num_layers, pooling, tmp_path):
    config = ModelConfig(vocab_size=50, num_classes=3, embedding_dim=8, hidden_dim=6, num_layers=num_layers,
                         cell=cell, pooling=pooling)
    assert largest_difference(config, tmp_path) <= TOLERANCE


@pytest.mark.parametrize("cell", list(CELLS))
def test_chunked_and_one_directional_models_match_pytorch(cell, tmp_path):
    # chunks of 4 tokens: the batches hold texts shorter than a chunk, exactly one, and several chunks
    for config in (ModelConfig(vocab_size=50, num_classes=2, embedding_dim=8, hidden_dim=6, num_layers=2, cell=cell,
                               chunk_length=4, pooling="last+max"),
                   ModelConfig(vocab_size=50, num_classes=2, embedding_dim=8, hidden_dim=6, cell=cell,
                               bidirectional=False, pooling="last+mean")):
        assert largest_difference(config, tmp_path) <= TOLERANCE


def test_export_leaves_the_model_as_it_found_it(tmp_path):
    torch.manual_seed(0)
    model = RNNClassifier(ModelConfig(vocab_size=50, num_classes=2, embedding_dim=8, hidden_dim=6, cell="gru")).eval()
    ids, lengths = next(random_batches(50, 0))
    with torch.inference_mode():
        before = model(ids, lengths)
        export_onnx(model, tmp_path / "model.onnx")
        assert not model.training and torch.equal(model(ids, lengths), before)
        assert torch.equal(PaddedClassifier(model)(ids, lengths), before)  # the exported forward, in PyTorch


@pytest.mark.parametrize("cell", list(CELLS))
def test_each_reversal_is_one_reverse_sequence_node(cell, tmp_path):
    torch.manual_seed(0)
    model = RNNClassifier(ModelConfig(vocab_size=50, num_classes=2, embedding_dim=8, hidden_dim=6, num_layers=2,
                                      cell=cell)).eval()
    export_onnx(model, tmp_path / "model.onnx")
    ops = [node.op_type for node in onnx.load(str(tmp_path / "model.onnx")).graph.node]
    assert ops.count("ReverseSequence") == 4  # per layer, the backward direction's input and output
    assert "GatherElements" not in ops and "Expand" not in ops  # the index gather PyTorch's path does


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    """The trained fixture model exported through the command line, float32 and int8."""
    root = tmp_path_factory.mktemp("exported")
    assert main(["export", str(trained_run), "--output", str(root / "float32")]) == 0
    assert main(["export", str(trained_run), "--output", str(root / "int8"), "--quantize", "int8"]) == 0
    return {"float32": root / "float32", "int8": root / "int8"}


def test_export_writes_the_three_files_and_records_itself(trained_run, exported):
    directory = exported["float32"]
    assert sorted(path.name for path in directory.iterdir()) == ["README.md", "config.json", "model.onnx",
                                                                   "tokenizer.json"]
    assert "## Export\n\nThis directory is `textrnn export` of" in (directory / "README.md").read_text()
    config = json.loads((directory / "config.json").read_text())
    source = json.loads((trained_run / "config.json").read_text())
    assert {key: value for key, value in config.items() if key != "export"} == source
    assert config["export"]["format"] == "onnx" and config["export"]["quantization"] is None
    assert config["export"]["opset"] >= 14
    assert (directory / "tokenizer.json").read_bytes() == (trained_run / "tokenizer.json").read_bytes()


def test_predict_on_the_export_gives_the_pytorch_answers(trained_run, exported, capsys):
    texts = ["a wonderful and charming film", "the plot was dull", "", "awful " * 300]
    expected = textrnn.classify_text(texts, textrnn.load(trained_run), top_k=None)
    assert main(["predict", str(exported["float32"]), *texts, "--top-k", "0"]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(answers) == len(texts)
    for answer, reference in zip(answers, expected):
        assert [a["label"] for a in answer] == [r["label"] for r in reference]
        assert [a["score"] for a in answer] == pytest.approx([r["score"] for r in reference], abs=TOLERANCE)


def test_a_text_gives_the_same_scores_alone_and_batched_with_longer_ones(exported):
    classifier = textrnn.load(exported["float32"])
    texts = ["great", "the film was dull and the plot was tedious at times " * 5, "charming", "awful acting"]
    together = classifier.predict_proba(texts, batch_size=4)
    for text, row in zip(texts, together):
        assert classifier.predict_proba([text])[0] == pytest.approx(row, abs=1e-6)


def test_evaluate_runs_the_export(trained_run, exported, sentiment_files, tmp_path, capsys):
    for name, directory in (("torch", trained_run), ("onnx", exported["float32"])):
        assert main(["evaluate", str(directory), "--test-file", str(sentiment_files["test"]),
                     "--output", str(tmp_path / name)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == lines[2]  # the same "test: accuracy ..." line


def test_int8_export_predicts_about_as_well(trained_run, exported):
    texts, labels = zip(*make_texts(200, seed=2))
    accuracy = {}
    for name, directory in (("torch", trained_run), ("int8", exported["int8"])):
        predicted = [result["label"] for result in textrnn.classify_text(list(texts), directory)]
        accuracy[name] = np.mean([p == label for p, label in zip(predicted, labels)])
    assert accuracy["torch"] > 0.8 and accuracy["int8"] >= accuracy["torch"] - 0.05
    record = json.loads((exported["int8"] / "config.json").read_text())["export"]
    assert record["quantization"] == "int8" and "DynamicQuantizeLSTM" in record["quantized"]
    ops = {node.op_type for node in onnx.load(str(exported["int8"] / "model.onnx")).graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops


def test_int8_probabilities_stay_close_to_pytorch(trained_run, exported):
    """Dynamic int8 is not bit-exact: what it keeps is the answers, within a few hundredths in probability."""
    record = json.loads((exported["int8"] / "config.json").read_text())["export"]
    assert 0 < record["probe_max_probability_difference"] <= 0.05
    torch_model, _, _ = load_model_dir(trained_run)
    int8 = textrnn.load(exported["int8"]).model
    agree = total = 0
    with torch.inference_mode():
        for ids, lengths in random_batches(torch_model.config.vocab_size, torch_model.config.pad_id, seed=1):
            expected, got = torch.softmax(torch_model(ids, lengths), -1), torch.softmax(int8(ids, lengths), -1)
            assert float((got - expected).abs().max()) <= 0.05
            confident = (expected.max(-1).values - 0.5).abs() > 0.05  # ties may flip; clear answers may not
            agree += int((got.argmax(-1) == expected.argmax(-1))[confident].sum())
            total += int(confident.sum())
    assert total and agree == total


def test_int8_describes_what_it_quantized(exported):
    record = json.loads((exported["int8"] / "config.json").read_text())["export"]
    assert record["quantized"].startswith("the embedding table in 8 bits; 2 LSTM node(s) as int8 DynamicQuantizeLSTM")
    assert "left in float32" not in record["quantized"]
    float_record = json.loads((exported["float32"] / "config.json").read_text())["export"]
    assert float_record["quantized"] == "none (float32)" and float_record["quantization"] is None


@pytest.fixture
def gru_dir(tmp_path):
    texts = [text for text, _ in make_texts(20, seed=3)]
    tokenizer = train_tokenizer(texts, TokenizerConfig(min_freq=1))
    torch.manual_seed(0)
    model = RNNClassifier(ModelConfig(vocab_size=tokenizer.get_vocab_size(), num_classes=2, embedding_dim=8,
                                      hidden_dim=8, cell="gru"))
    return save_model_dir(tmp_path / "gru", model, tokenizer, TokenizerConfig(min_freq=1), ["neg", "pos"])


def test_int8_says_that_a_gru_stays_float32(gru_dir, tmp_path):
    logged = []
    record = export_model(gru_dir, tmp_path / "int8", quantize="int8", log=logged.append)
    assert "2 GRU node(s) left in float32" in record["quantized"]  # one per direction
    assert any("left in float32" in line for line in logged)
    ops = {node.op_type for node in onnx.load(str(tmp_path / "int8" / "model.onnx")).graph.node}
    assert "GRU" in ops and "MatMulInteger" in ops
    assert textrnn.classify_text("great", tmp_path / "int8")["label"] in ("neg", "pos")


def copy_export(exported, tmp_path):
    return shutil.copytree(exported["float32"], tmp_path / "copy")


def test_a_truncated_model_onnx_is_named(exported, tmp_path):
    directory = copy_export(exported, tmp_path)
    path = directory / "model.onnx"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelDirError, match="model.onnx: not a readable ONNX model"):
        textrnn.load(directory)
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelDirError, match="model.onnx: "):
        textrnn.load(directory)


def rewrite_graph(directory, change):
    path = directory / "model.onnx"
    graph = onnx.load(str(path))
    change(graph)
    onnx.save(graph, str(path))


def test_a_graph_that_is_not_a_textrnn_export_is_refused(exported, tmp_path):
    directory = copy_export(exported, tmp_path)

    def rename_ids(graph):  # a graph that takes input_ids, as a transformer's export does
        graph.graph.input[0].name = "input_ids"
        for node in graph.graph.node:
            node.input[:] = ["input_ids" if name == "ids" else name for name in node.input]
    rewrite_graph(directory, rename_ids)
    with pytest.raises(ModelDirError, match="model.onnx: .*takes .*a textrnn export takes ids"):
        textrnn.load(directory)


def test_custom_operators_and_external_data_are_refused(exported, tmp_path):
    directory = copy_export(exported, tmp_path)
    rewrite_graph(directory, lambda g: setattr(g.graph.node[-1], "domain", "evil.ops"))
    with pytest.raises(ModelDirError, match="model.onnx: .*(custom operators|not a readable)"):
        textrnn.load(directory)

    directory = shutil.copytree(exported["float32"], tmp_path / "external")
    graph = onnx.load(str(directory / "model.onnx"))
    onnx.save(graph, str(directory / "model.onnx"), save_as_external_data=True, location="weights.bin",
              size_threshold=0)
    with pytest.raises(ModelDirError, match="model.onnx: weights .* live in external files"):
        textrnn.load(directory)


def test_a_graph_onnxruntime_cannot_run_is_named(exported, tmp_path):
    directory = copy_export(exported, tmp_path)

    def wrong_head(graph):  # the head's output becomes 7 wide: runs, but not for config.json's 2 classes
        gemm = next(node for node in graph.graph.node if node.op_type == "Gemm")
        weights = next(t for t in graph.graph.initializer if t.name == gemm.input[1])
        array = onnx.numpy_helper.to_array(weights)
        weights.CopyFrom(onnx.numpy_helper.from_array(np.resize(array, (7, array.shape[1])), weights.name))
    rewrite_graph(directory, wrong_head)
    with pytest.raises(ModelDirError, match="model.onnx: (onnxruntime cannot run it|gives logits of shape)"):
        textrnn.load(directory)


def test_missing_files_are_named(exported, tmp_path):
    directory = copy_export(exported, tmp_path)
    (directory / "tokenizer.json").unlink()
    with pytest.raises(ModelDirError, match="missing tokenizer.json"):
        textrnn.load(directory)
    (directory / "model.onnx").unlink()
    with pytest.raises(ModelDirError, match=r"missing model.safetensors \(nor model.onnx\)"):
        textrnn.load(directory)
    with pytest.raises(ModelDirError, match="holds model.onnx and no model.safetensors"):
        load_model_dir(exported["float32"])  # PyTorch's loader says what the directory is


def test_loading_an_export_runs_no_code_from_its_directory(exported, tmp_path):
    directory = copy_export(exported, tmp_path)
    marker = tmp_path / "code-ran"
    plant_code(directory, marker)  # pickles and Python files that would create the marker if run
    assert textrnn.classify_text("great", directory)["label"] in ("neg", "pos")
    assert not marker.exists()


def test_without_onnxruntime_the_error_names_the_extra(exported, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an environment without it imports
    with pytest.raises(TextRNNError, match=r"pip install 'textrnn\[export\]'"):
        textrnn.load(exported["float32"])


def test_export_refuses_to_write_beside_safetensors(trained_run, tmp_path):
    target = shutil.copytree(trained_run, tmp_path / "copy", ignore=shutil.ignore_patterns("last", "eval-*"))
    with pytest.raises(TextRNNError, match="holds model.safetensors, which textrnn.load would read instead"):
        export_model(trained_run, target)


def test_the_parity_probe_measures_the_probabilities_the_model_serves():
    # Logits shifted by a constant: the same softmax, other sigmoids. A multi-label model serves the sigmoids,
    # so its probe must see the shift; a single-label model's must not.
    from textrnn.export import max_probability_difference
    from textrnn.tasks import make_task

    model = RNNClassifier(ModelConfig(vocab_size=50, num_classes=3, embedding_dim=8, hidden_dim=8)).eval()

    def shifted(ids, lengths):
        return model(ids, lengths) + 1.0

    assert max_probability_difference(model, shifted, make_task("single", "abc")) < 1e-6
    assert max_probability_difference(model, shifted, make_task("multi", "abc")) > 0.05


def test_a_model_onnx_of_another_vocabulary_or_label_set_is_refused(exported, tmp_path):
    directory = copy_export(exported, tmp_path)
    saved = json.loads((directory / "config.json").read_text())["model"]
    for change, message in (({"vocab_size": saved["vocab_size"] + 7},
                             rf"holds an embedding of {saved['vocab_size'] + 7} rows; config.json says vocab_size "
                             rf"{saved['vocab_size']}"),
                            ({"num_classes": 3}, r"gives logits \[batch, 3\]; config.json says 2 classes")):
        # a graph exported from a model like the saved one, but with more tokens or labels: onnxruntime runs it
        export_onnx(RNNClassifier(ModelConfig(**{**saved, **change})).eval(), directory / "model.onnx")
        with pytest.raises(ModelDirError, match=f"model.onnx: {message}"):
            textrnn.load(directory)


def test_an_export_keeps_the_tokenizer_tied_to_its_graph(exported, tmp_path):
    from test_checkpoint import shuffle_vocabulary

    directory = copy_export(exported, tmp_path)
    config = json.loads((directory / "config.json").read_text())
    assert config["tokenizer_sha256"] == hashlib.sha256((directory / "tokenizer.json").read_bytes()).hexdigest()
    shuffle_vocabulary(directory)
    with pytest.raises(ModelDirError, match="tokenizer.json is not the tokenizer the weights were trained with"):
        textrnn.load(directory)


def test_exporting_a_model_saved_before_the_digest_records_one(tmp_path):
    legacy = Path(__file__).parent / "fixtures" / "legacy" / "single"
    export_model(legacy, tmp_path / "legacy", log=lambda line: None)
    config = json.loads((tmp_path / "legacy" / "config.json").read_text())
    assert "tokenizer_sha256" not in json.loads((legacy / "config.json").read_text())
    assert config["tokenizer_sha256"] == hashlib.sha256((legacy / "tokenizer.json").read_bytes()).hexdigest()
    assert textrnn.classify_text("great", tmp_path / "legacy")["label"] in ("neg", "pos")


def files_of(directory):
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.fixture
def earlier_export(gru_dir, tmp_path):
    """A float32 export in tmp_path/exports/out, alone in its parent, and its files."""
    output = tmp_path / "exports" / "out"
    export_model(gru_dir, output, log=lambda line: None)
    return output, files_of(output)


def fail_at_call(number, function, exception=KeyboardInterrupt):
    """`function`, but its call `number` (from 1) raises `exception` instead: a kill at that moment."""
    calls = []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == number:
            raise exception("killed")
        return function(*args, **kwargs)
    return failing


@pytest.mark.parametrize("write", [1, 2, 3])
def test_an_export_killed_between_its_writes_leaves_the_earlier_one_whole(gru_dir, earlier_export, write,
                                                                          monkeypatch):
    import textrnn.export

    output, before = earlier_export
    monkeypatch.setattr(textrnn.export, "atomic_write", fail_at_call(write, textrnn.export.atomic_write))
    with pytest.raises(KeyboardInterrupt):
        export_model(gru_dir, output, quantize="int8", log=lambda line: None)
    assert files_of(output) == before  # never the new model.onnx beside the old config.json
    assert [path.name for path in output.parent.iterdir()] == ["out"]  # and nothing temporary beside it


@pytest.mark.parametrize("rename", [1, 2])
def test_an_export_killed_between_its_renames_leaves_the_earlier_one_whole(gru_dir, earlier_export, rename,
                                                                           monkeypatch):
    import os

    output, before = earlier_export
    replace = os.replace
    directory_renames = fail_at_call(rename, replace)  # counts the renames of directories only

    def renaming(source, target):
        return directory_renames(source, target) if os.path.isdir(source) else replace(source, target)
    monkeypatch.setattr(os, "replace", renaming)
    with pytest.raises(KeyboardInterrupt):
        export_model(gru_dir, output, quantize="int8", log=lambda line: None)
    assert files_of(output) == before
    assert [path.name for path in output.parent.iterdir()] == ["out"]


def test_an_export_replaces_an_earlier_one_and_what_a_killed_one_left(gru_dir, earlier_export):
    output, before = earlier_export
    # what SIGKILL leaves, where no clean-up runs: a half-written new directory, an old one renamed aside, and a
    # temporary file of an earlier textrnn's in-place writes
    for leftover in (".out.export-new-abc123", ".out.export-old-def456"):
        (output.parent / leftover).mkdir()
        (output.parent / leftover / "model.onnx").write_bytes(b"half")
    (output / ".model.onnx.xyz.tmp").write_bytes(b"half")
    (output / "README.md").write_text("the earlier export's model card")
    export_model(gru_dir, output, quantize="int8", log=lambda line: None)
    after = files_of(output)
    assert sorted(after) == ["README.md", "config.json", "model.onnx", "tokenizer.json"]
    assert after["model.onnx"] != before["model.onnx"] and b"earlier export" not in after["README.md"]
    assert json.loads(after["config.json"])["export"]["quantization"] == "int8"
    assert [path.name for path in output.parent.iterdir()] == ["out"]
    assert textrnn.classify_text("great", output)["label"] in ("neg", "pos")


def test_an_export_refuses_a_directory_that_holds_other_files(gru_dir, tmp_path):
    output = tmp_path / "notes"
    output.mkdir()
    (output / "notes.txt").write_text("mine")
    with pytest.raises(TextRNNError, match="holds notes.txt, which an export does not"):
        export_model(gru_dir, output)
    (tmp_path / "file").write_text("mine")
    with pytest.raises(TextRNNError, match="is a file"):
        export_model(gru_dir, tmp_path / "file")
    assert (output / "notes.txt").read_text() == "mine" and sorted(p.name for p in output.iterdir()) == ["notes.txt"]


def test_a_failed_quantization_leaves_no_export(gru_dir, earlier_export, tmp_path, monkeypatch):
    import textrnn.export

    def failing(path):
        raise RuntimeError("quantization failed")
    monkeypatch.setattr(textrnn.export, "describe_quantization", failing)
    with pytest.raises(RuntimeError, match="quantization failed"):
        export_model(gru_dir, tmp_path / "new", quantize="int8", log=lambda line: None)
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".new.*"))
    output, before = earlier_export
    with pytest.raises(RuntimeError, match="quantization failed"):
        export_model(gru_dir, output, quantize="int8", log=lambda line: None)
    assert files_of(output) == before and [path.name for path in output.parent.iterdir()] == ["out"]
