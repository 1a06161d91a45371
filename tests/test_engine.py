"""The engine that runs a loaded model: PyTorch or onnxruntime (textrnn.load's engine, textrnn serve --engine),
with the same scores either way, and a copy that fails its parity probe falling back (auto) or refused (onnx)."""

import copy

import numpy as np
import pytest

from helpers import make_texts
from serve_process import multi_label_model, onnx_export
from textrnn.errors import ConfigError
from textrnn.explanations import explain
from textrnn.inference import classify_text, load, onnx_copy, parity_problem

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TEXTS = [text for text, _ in make_texts(40, seed=7)] + ["", "great", "awful " * 300]


@pytest.fixture(scope="module")
def multi_dir(tmp_path_factory):
    return multi_label_model(tmp_path_factory)


@pytest.mark.parametrize("which", ["single", "multi"])
def test_both_engines_give_the_same_scores(trained_run, multi_dir, which):
    model_dir = trained_run if which == "single" else multi_dir
    torch_run, onnx_run = load(model_dir, engine="torch"), load(model_dir, engine="onnx")
    assert (torch_run.engine, onnx_run.engine) == ("torch", "onnx")
    for batch_size in (1, 7, 256):
        difference = np.abs(torch_run.predict_proba(TEXTS, batch_size) - onnx_run.predict_proba(TEXTS, batch_size))
        assert difference.max() < 1e-4
    for text in ("a superb film", "dull"):
        by_torch = classify_text(text, model_dir, top_k=None, engine="torch")
        by_onnx = classify_text(text, model_dir, top_k=None, engine="onnx")
        if which == "single":
            assert [r["label"] for r in by_torch] == [r["label"] for r in by_onnx]
            assert [r["score"] for r in by_torch] == pytest.approx([r["score"] for r in by_onnx], abs=1e-4)
        else:
            assert [r["label"] for r in by_torch["scores"]] == [r["label"] for r in by_onnx["scores"]]


def test_auto_runs_onnx_where_preferred_and_torch_otherwise(trained_run):
    assert load(trained_run).engine == "torch"  # outside the server onnxruntime measured no faster
    classifier = load(trained_run, prefer_onnx=True)  # the server's auto
    assert classifier.engine == "onnx" and classifier.engine_note == ""
    assert "engine=onnx" in repr(classifier)
    assert set(classifier.engines) == {"torch", "onnx"}  # the PyTorch model stays, for explanations
    assert "engine=torch" in repr(load(trained_run, engine="torch"))


def test_an_onnx_run_model_is_still_explained_with_gradients(trained_run):
    by_onnx = explain("a superb film", load(trained_run, engine="onnx"))
    by_torch = explain("a superb film", load(trained_run, engine="torch"))
    assert by_onnx["method"] == "integrated_gradients"
    assert [t["score"] for t in by_onnx["tokens"]] == pytest.approx([t["score"] for t in by_torch["tokens"]],
                                                                     abs=1e-4)


def test_an_export_runs_onnx_and_refuses_torch(trained_run, tmp_path_factory):
    exported = onnx_export(tmp_path_factory, trained_run)
    for engine in ("auto", "onnx"):
        classifier = load(exported, engine=engine)
        assert classifier.engine == "onnx" and set(classifier.engines) == {"onnx"}
    assert explain("a superb film", classifier)["method"] == "occlusion"  # no gradients in an export
    with pytest.raises(ConfigError, match="ONNX export.*onnxruntime only.*exported from"):
        load(exported, engine="torch")


def test_unknown_and_mismatched_engines_are_refused(trained_run):
    with pytest.raises(ConfigError, match="unknown engine 'tensorrt'"):
        load(trained_run, engine="tensorrt")
    with pytest.raises(ConfigError, match="runs torch; load it with engine='onnx'"):
        classify_text("great", load(trained_run, engine="torch"), engine="onnx")


def perturbed_export(classifier):
    """An export of another model than the classifier's: its output layer shifted, so the graph really differs."""
    other = copy.deepcopy(classifier.model)
    for parameter in other.parameters():
        parameter.data += 0.5
    from textrnn.export import export_onnx

    return lambda model, path: export_onnx(other, path)


def test_a_copy_that_fails_the_parity_probe_falls_back_or_is_refused(trained_run):
    classifier = load(trained_run, engine="torch")
    model, reason = onnx_copy(classifier, required=False, export=perturbed_export(classifier))
    assert model is None and "differs from the PyTorch model by" in reason
    with pytest.raises(ConfigError, match="engine 'onnx': the ONNX copy differs from the PyTorch model by"):
        onnx_copy(classifier, required=True, export=perturbed_export(classifier))
    model, reason = onnx_copy(classifier, required=False)  # the model's own export passes
    assert model is not None and reason == ""


def test_the_parity_rule_on_measured_differences(trained_run):
    from textrnn.export import PARITY_TOLERANCE, max_probability_difference

    classifier = load(trained_run, engine="onnx")
    same = max_probability_difference(classifier.model, classifier.engines["onnx"], classifier.task)
    assert parity_problem(same, PARITY_TOLERANCE) is None
    other = copy.deepcopy(classifier.model)
    for parameter in other.parameters():
        parameter.data += 0.5
    differs = max_probability_difference(other, classifier.engines["onnx"], classifier.task)
    assert differs > PARITY_TOLERANCE
    assert f"{differs:.2e}" in parity_problem(differs, PARITY_TOLERANCE)
    assert parity_problem(float("nan"), PARITY_TOLERANCE) is not None


def test_a_failed_copy_names_the_reason_and_auto_runs_torch(trained_run):
    classifier = load(trained_run, engine="torch")

    def broken_export(model, path):
        path.write_bytes(b"not an onnx graph")

    model, reason = onnx_copy(classifier, required=False, export=broken_export)
    assert model is None and reason.startswith("the ONNX copy could not be made (ModelDirError")


def test_the_cli_takes_engine(trained_run, capsys):
    from textrnn.cli import main

    assert main(["predict", str(trained_run), "a superb film", "--engine", "torch"]) == 0
    by_torch = capsys.readouterr().out
    assert main(["predict", str(trained_run), "a superb film", "--engine", "onnx"]) == 0
    by_onnx = capsys.readouterr().out
    assert by_torch.split('"score"')[0] == by_onnx.split('"score"')[0]
    with pytest.raises(SystemExit):
        main(["predict", str(trained_run), "x", "--engine", "tensorrt"])


def test_engine_torch_imports_neither_onnx_nor_the_exporter(trained_run):
    import subprocess
    import sys

    code = ("import sys; from textrnn.inference import load; load(sys.argv[1], engine='torch'); "
            "print([m for m in ('onnx', 'onnxruntime', 'textrnn.export') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code, str(trained_run)], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr
