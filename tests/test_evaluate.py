"""Tests for textrnn.evaluate, using small hand-computed examples."""
import json

import numpy as np
import pytest

from textrnn.evaluate import format_report_line, write_report
from textrnn.figures import plot_training_curves
from textrnn.metrics import single_label_report as compute_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# 6 examples, 2 classes. preds = argmax = [0, 1, 1, 0, 1, 1]
# confusion: true neg -> [2 neg, 2 pos], true pos -> [0 neg, 2 pos]
# AUC: pos scores {0.65, 0.9} vs neg {0.1, 0.6, 0.7, 0.2}: 3 + 4 of 8 pairs ranked right = 0.875
LABELS = [0, 0, 0, 0, 1, 1]
P_POS = np.array([0.1, 0.6, 0.7, 0.2, 0.65, 0.9])
PROBS = np.stack([1 - P_POS, P_POS], axis=1)
NAMES = ["neg", "pos"]
TEXTS = ["awful", "meh | ok", "fine\nreally", "bad", "good", "great"]


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5000


@pytest.fixture
def binary_report():
    return compute_report(LABELS, PROBS, NAMES, texts=TEXTS)


def test_binary_metrics_match_hand_computation(binary_report):
    r = binary_report
    assert r["num_examples"] == 6
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["confusion_matrix"] == [[2, 2], [0, 2]]
    assert r["per_class"]["neg"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 4})
    assert r["per_class"]["pos"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 2})
    assert r["macro_f1"] == pytest.approx(2 / 3)
    assert r["roc_auc"] == pytest.approx(0.875)
    assert r["label_names"] == NAMES
    assert r["roc_curve"]["fpr"][0] == 0.0 and r["roc_curve"]["tpr"][-1] == 1.0


def test_report_is_plain_json(binary_report):
    assert json.loads(json.dumps(binary_report)) == binary_report
    assert type(binary_report["accuracy"]) is float
    assert type(binary_report["confusion_matrix"][0][0]) is int


def test_errors_sorted_by_confidence(binary_report):
    assert binary_report["errors"] == [
        {"index": 2, "text": "fine\nreally", "label": "neg", "predicted": "pos", "score": pytest.approx(0.7)},
        {"index": 1, "text": "meh | ok", "label": "neg", "predicted": "pos", "score": pytest.approx(0.6)},
    ]


def test_errors_limit_and_missing_texts():
    r = compute_report(LABELS, PROBS, NAMES, num_errors=1)
    assert [(e["index"], e["text"]) for e in r["errors"]] == [(2, None)]
    assert compute_report(LABELS, PROBS, NAMES, num_errors=0)["errors"] == []


def test_multiclass_has_no_auc_and_keeps_absent_class():
    names = ["a", "b", "c", "d"]
    labels = [0, 1, 1, 2, 0]  # class "d" never occurs as a true label
    probs = np.array([
        [0.7, 0.1, 0.1, 0.1],   # a, correct
        [0.1, 0.6, 0.2, 0.1],   # b, correct
        [0.1, 0.2, 0.1, 0.6],   # b -> d
        [0.2, 0.1, 0.5, 0.2],   # c, correct
        [0.3, 0.1, 0.2, 0.4],   # a -> d
    ])
    r = compute_report(labels, probs, names)
    assert r["roc_auc"] is None and r["roc_curve"] is None
    assert r["accuracy"] == pytest.approx(3 / 5)
    assert r["confusion_matrix"] == [[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert r["per_class"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["per_class"]["b"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    # macro-F1 averages all four declared classes: a=2/3, b=2/3, c=1, d=0
    assert r["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1 + 0) / 4)
    assert [e["index"] for e in r["errors"]] == [2, 4]


def test_binary_with_single_class_present_has_no_auc():
    r = compute_report([1, 1, 1], [[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]], NAMES)
    assert r["roc_auc"] is None
    assert r["confusion_matrix"] == [[0, 0], [1, 2]]


@pytest.mark.parametrize(
    "labels, probs, names, texts, match",
    [
        ([0, 1], [[0.5, 0.5]], NAMES, None, "labels"),
        ([0, 1], [[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]], NAMES, None, "label names"),
        ([], np.zeros((0, 2)), NAMES, None, "zero examples"),
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]], NAMES, ["only one"], "texts"),
        ([0, 2], [[0.5, 0.5], [0.5, 0.5]], NAMES, None, "labels must lie"),
    ],
)
def test_shape_mismatches_raise(labels, probs, names, texts, match):
    with pytest.raises(ValueError, match=match):
        compute_report(labels, probs, names, texts=texts)


def test_format_report_line(binary_report):
    assert format_report_line(binary_report) == "accuracy 66.67% | macro-F1 66.67% | ROC-AUC 0.8750 | n=6"
    multi = dict(binary_report, roc_auc=None)
    assert format_report_line(multi) == "accuracy 66.67% | macro-F1 66.67% | n=6"


def test_write_report_binary(tmp_path, binary_report):
    out = tmp_path / "nested" / "eval"
    paths = write_report(binary_report, out, title="Test run")
    names = {p.name for p in paths}
    assert names == {"eval_report.json", "errors.jsonl", "eval_report.md", "confusion_matrix.png", "roc_curve.png"}
    assert all(p.parent == out and p.exists() for p in paths)
    assert sorted(f.name for f in out.iterdir()) == sorted(names)  # no temp files left behind

    saved = json.loads((out / "eval_report.json").read_text())
    assert saved == {k: v for k, v in binary_report.items() if k != "errors"}
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    assert errors == binary_report["errors"]

    md = (out / "eval_report.md").read_text(encoding="utf-8")
    assert md.startswith("# Test run")
    for snippet in ["Examples: 6", "Accuracy: 66.67%", "Macro-F1: 66.67%", "ROC-AUC: 0.8750",
                    "| neg | 100.00% | 50.00% | 66.67% | 4 |", "| **neg** | 2 | 2 |", "| **pos** | 0 | 2 |",
                    "meh \\| ok", "| fine really |"]:
        assert snippet in md
    assert_png(out / "confusion_matrix.png")
    assert_png(out / "roc_curve.png")


def test_write_report_multiclass_has_no_roc_and_shortens_text(tmp_path):
    probs = np.array([[0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.9, 0.05, 0.05]])
    report = compute_report([0, 1, 2], probs, ["x", "y", "z"], texts=["é" * 500, "b", "c"])
    paths = write_report(report, tmp_path)
    assert {p.name for p in paths} == {"eval_report.json", "errors.jsonl", "eval_report.md", "confusion_matrix.png"}
    assert not (tmp_path / "roc_curve.png").exists()
    assert "é" * 500 in (tmp_path / "errors.jsonl").read_text(encoding="utf-8")  # ensure_ascii=False
    md = (tmp_path / "eval_report.md").read_text(encoding="utf-8")
    assert "é" * 199 + "…" in md and "é" * 200 not in md
    assert "ROC-AUC" not in md
    assert_png(tmp_path / "confusion_matrix.png")


def test_plot_training_curves_full_history(tmp_path):
    history = [
        {"epoch": e, "train_loss": 0.7 / e, "train_accuracy": 0.6 + 0.05 * e, "valid_loss": 0.75 / e,
         "valid_accuracy": 0.55 + 0.05 * e, "valid_macro_f1": 0.54 + 0.05 * e, "lr": 1e-3, "seconds": 1.0}
        for e in range(1, 6)
    ]
    path = plot_training_curves(history, tmp_path / "plots" / "curves.png")
    assert path == tmp_path / "plots" / "curves.png"
    assert_png(path)
    assert [f.name for f in path.parent.iterdir()] == ["curves.png"]


def test_plot_training_curves_partial_history(tmp_path):
    history = [{"epoch": 1, "train_loss": 0.6}, {"epoch": 2, "train_loss": 0.4, "train_accuracy": 0.8}]
    assert_png(plot_training_curves(history, tmp_path / "partial.png"))
    assert_png(plot_training_curves([{"train_loss": 0.5}], tmp_path / "single.png"))


def test_plot_training_curves_empty_history_raises(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plot_training_curves([], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def png_size(path) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_a_report_of_many_classes_keeps_its_figure_and_table_bounded(tmp_path):
    """120 classes: the confusion figure and the Markdown table keep the classes with the most support, say so,
    and the figure's pixels stay bounded however many classes (or however long their names) there are."""
    rng = np.random.default_rng(0)
    names = [f"class {i} " + "with a very long name " * 10 for i in range(120)]
    labels = np.concatenate([np.arange(120), rng.integers(0, 10, 480)])  # classes 0-9 have the most support
    probs = rng.dirichlet(np.ones(120), size=len(labels))
    report = compute_report(labels.tolist(), probs, names)
    write_report(report, tmp_path)
    width, height = png_size(tmp_path / "confusion_matrix.png")
    assert width <= 4000 and height <= 4000
    md = (tmp_path / "eval_report.md").read_text(encoding="utf-8")
    assert "Only the 20 classes with the most support (of 120) are shown" in md
    header = next(line for line in md.splitlines() if line.startswith("| true \\ predicted"))
    assert header.count(" | ") == 20 and "class 9 " in header and "class 119 " not in header
    assert len(json.loads((tmp_path / "eval_report.json").read_text())["confusion_matrix"]) == 120


def test_a_multi_label_report_of_many_labels_keeps_per_label_png_bounded(tmp_path):
    from textrnn.metrics import multi_label_report
    from textrnn.report import write_multi_label_report

    rng = np.random.default_rng(1)
    names = [f"label {i}" for i in range(120)]
    targets = (rng.random((300, 120)) < 0.05).astype(np.float32)
    report = multi_label_report(targets, rng.random((300, 120)), names, [0.5] * 120)
    write_multi_label_report(report, tmp_path, "many labels")
    width, height = png_size(tmp_path / "per_label.png")
    assert width <= 2000 and height <= (0.32 * 50 + 1.5) * 120 + 200  # 50 bars of 0.32 inches at 120 dpi, a margin


def drawn_figure(monkeypatch, plot, *args):
    """The matplotlib figure `plot` draws, as it is saved."""
    import textrnn.figures

    figures, real_save = [], textrnn.figures.save_figure

    def save_noting(fig, path):
        figures.append(fig)
        return real_save(fig, path)

    monkeypatch.setattr(textrnn.figures, "save_figure", save_noting)
    plot(*args)
    return figures[-1]


def test_the_curves_of_a_one_epoch_run_have_whole_epochs_and_mark_the_best(tmp_path, monkeypatch):
    row = {"epoch": 1, "train_loss": 0.6, "train_accuracy": 0.7, "valid_loss": 0.5, "valid_accuracy": 0.75,
           "valid_macro_f1": 0.74, "improved": True}
    fig = drawn_figure(monkeypatch, plot_training_curves, [row], tmp_path / "curves.png")
    assert fig._suptitle.get_text() == "Training curves (1 epoch; best: epoch 1)"
    for ax in fig.axes:
        assert list(ax.get_xticks()) == [1.0]
        assert "best epoch (1, saved)" in [text.get_text() for text in ax.get_legend().get_texts()]


def test_the_best_epoch_is_the_last_that_improved(tmp_path, monkeypatch):
    rows = [{"epoch": e, "train_loss": 1 / e, "valid_accuracy": a, "improved": i}
            for e, a, i in ((1, 0.7, True), (2, 0.8, True), (3, 0.79, False), (4, 0.78, False))]
    fig = drawn_figure(monkeypatch, plot_training_curves, rows, tmp_path / "curves.png")
    assert fig._suptitle.get_text() == "Training curves (4 epochs; best: epoch 2)"
    loss_axes = fig.axes[0]
    assert [list(line.get_xdata()) for line in loss_axes.lines if line.get_label().startswith("best")] == [[2, 2]]
    assert list(loss_axes.get_xticks()) == [1.0, 2.0, 3.0, 4.0]
    # a history written before metrics.jsonl said which epoch improved: no mark, and nothing breaks
    fig = drawn_figure(monkeypatch, plot_training_curves, [{"epoch": 1, "train_loss": 0.5}], tmp_path / "old.png")
    assert fig._suptitle.get_text() == "Training curves (1 epoch)"


def test_a_one_epoch_pretraining_curve_says_1_epoch(tmp_path, monkeypatch):
    from textrnn.figures import plot_pretraining

    history = [{"pretrain_epoch": 1, "valid_perplexity": 80.0, "train_curve": [[0.5, 120.0], [1.0, 90.0]]}]
    fig = drawn_figure(monkeypatch, plot_pretraining, history, tmp_path / "pretrain.png")
    assert fig.axes[0].get_title() == "Language-model pre-training (1 epoch)"
    assert list(fig.axes[0].get_xticks()) == [0.0, 1.0]
