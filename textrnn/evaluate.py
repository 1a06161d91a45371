"""Evaluation-report stage: turn predicted probabilities into metrics, files and plots.

`compute_report` is pure (arrays in, JSON-ready dict out) so it can be unit-tested and
reused for validation during training; `write_report` and `plot_training_curves` only
render that dict. Figures are built with `matplotlib.figure.Figure` + the Agg canvas
rather than pyplot, so no display is needed and nothing lingers in pyplot's registry.
"""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score, roc_curve

from .fileio import atomic_write

_MAX_TEXT_CHARS = 200
_PANELS = [  # (panel, {history key: legend label}) for plot_training_curves
    ("Loss", {"train_loss": "train", "valid_loss": "validation"}),
    ("Accuracy", {"train_accuracy": "train", "valid_accuracy": "validation",
                  "valid_macro_f1": "validation macro-F1"}),
]


def _validate(labels: Any, probs: Any, label_names: Sequence[str], texts: Sequence[str] | None):
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=np.float64)
    if len(labels) == 0:
        raise ValueError("cannot evaluate zero examples")
    if labels.ndim != 1 or probs.ndim != 2:
        raise ValueError(f"labels must be 1-D and probs 2-D, got shapes {labels.shape} and {probs.shape}")
    if len(labels) != len(probs):
        raise ValueError(f"{len(labels)} labels but {len(probs)} rows of probabilities")
    if probs.shape[1] != len(label_names):
        raise ValueError(f"probs has {probs.shape[1]} columns but there are {len(label_names)} label names")
    if texts is not None and len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= len(label_names):
        raise ValueError(f"labels must lie in [0, {len(label_names)}), got range [{labels.min()}, {labels.max()}]")
    return labels, probs


def _confident_errors(labels, probs, preds, label_names, texts, num_errors: int) -> list[dict]:
    scores = probs[np.arange(len(preds)), preds]
    wrong = np.flatnonzero(preds != labels)
    # Stable sort keeps ties in dataset order, so the listing is reproducible.
    order = wrong[np.argsort(-scores[wrong], kind="stable")][: max(num_errors, 0)]
    return [{"index": int(i), "text": None if texts is None else str(texts[i]),
             "label": label_names[labels[i]], "predicted": label_names[preds[i]], "score": float(scores[i])}
            for i in order]


def compute_report(labels, probs, label_names, texts=None, num_errors=20) -> dict:
    """Metrics for one evaluation pass; every value is a plain Python type (JSON-ready)."""
    label_names = [str(name) for name in label_names]
    labels, probs = _validate(labels, probs, label_names, texts)
    preds = probs.argmax(axis=1)
    class_ids = list(range(len(label_names)))  # explicit so absent classes keep their slot
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, preds, labels=class_ids, zero_division=0
    )
    report: dict[str, Any] = {
        "num_examples": len(labels),
        "accuracy": float(np.mean(preds == labels)),
        # Mean over all declared classes, matching the per-class table below.
        "macro_f1": float(np.mean(f1)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(label_names, precision, recall, f1, support)
        },
        "confusion_matrix": confusion_matrix(labels, preds, labels=class_ids).tolist(),
        "label_names": label_names,
        "roc_auc": None,
        "roc_curve": None,
    }
    # AUC needs both classes present; otherwise sklearn raises and the number is meaningless.
    if len(label_names) == 2 and len(np.unique(labels)) == 2:
        fpr, tpr, _ = roc_curve(labels, probs[:, 1])
        report["roc_auc"] = float(roc_auc_score(labels, probs[:, 1]))
        report["roc_curve"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    report["errors"] = _confident_errors(labels, probs, preds, label_names, texts, num_errors)
    return report


def format_report_line(report: dict) -> str:
    """One-line summary for logs, e.g. 'accuracy 85.32% | macro-F1 85.10% | n=872'."""
    if report.get("problem_type") == "multi":
        from .evaluate_multilabel import format_multi_label_line

        return format_multi_label_line(report)
    parts = [f"accuracy {report['accuracy'] * 100:.2f}%", f"macro-F1 {report['macro_f1'] * 100:.2f}%"]
    if report.get("roc_auc") is not None:
        parts.append(f"ROC-AUC {report['roc_auc']:.4f}")
    parts.append(f"n={report['num_examples']}")
    return " | ".join(parts)


# Label names in Chinese, Japanese or Thai need fonts with those glyphs; matplotlib falls back along this list,
# glyph by glyph, to whichever is installed (Debian: fonts-wqy-microhei or fonts-noto-cjk).
FONT_FALLBACK = ["DejaVu Sans", "Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
                 "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", "Hiragino Sans", "Noto Sans Thai"]


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # attach the raster canvas explicitly; no pyplot, no global state
    return fig


# Each fallback font that is not installed would log a warning on every figure.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def with_fonts(function):
    """Run a plotting function with FONT_FALLBACK (text takes its font when it is made, so the whole function)."""
    return matplotlib.rc_context({"font.family": FONT_FALLBACK})(function)


def _save_figure(fig: Figure, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    return atomic_write(path, buf.getvalue())


def _md_cell(value: Any, limit: int = _MAX_TEXT_CHARS) -> str:
    text = " ".join(str(value).split())  # newlines would end the table row
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _model_lines(report: dict) -> list[str]:
    lines = []
    if choice := report.get("tokenizer"):
        lines.append(f"- Tokenizer: {choice.get('kind')}" + (f" ({choice['reason']})" if choice.get("reason") else ""))
    if pretraining := report.get("pretraining"):
        source = f"the training texts and {pretraining['unlabeled']}" if pretraining.get("unlabeled") else \
            "the training texts"
        perplexities = " → ".join(f"{value:,.1f}" for value in pretraining["valid_perplexity"])
        lines.append(f"- Pre-training: {pretraining['epochs']} epochs as a language model on {pretraining['texts']:,} "
                     f"texts ({source}); validation perplexity {perplexities} ({pretraining['curve']})")
    return lines


def _markdown(report: dict, title: str) -> str:
    names = report["label_names"]
    lines = [f"# {title}", "", *_model_lines(report), f"- Examples: {report['num_examples']}",
             f"- Accuracy: {report['accuracy'] * 100:.2f}%", f"- Macro-F1: {report['macro_f1'] * 100:.2f}%"]
    if report.get("roc_auc") is not None:
        lines.append(f"- ROC-AUC: {report['roc_auc']:.4f}")
    lines += ["", "## Per-class metrics", "", "| Class | Precision | Recall | F1 | Support |",
              "|---|---:|---:|---:|---:|"]
    for name, m in report["per_class"].items():
        lines.append(f"| {_md_cell(name)} | {m['precision'] * 100:.2f}% | {m['recall'] * 100:.2f}% "
                     f"| {m['f1'] * 100:.2f}% | {m['support']} |")
    lines += ["", "## Confusion matrix", "", "Rows are true labels, columns are predicted labels.", "",
              "| true \\ predicted | " + " | ".join(_md_cell(n) for n in names) + " |",
              "|---|" + "---:|" * len(names)]
    for name, row in zip(names, report["confusion_matrix"]):
        lines.append(f"| **{_md_cell(name)}** | " + " | ".join(str(c) for c in row) + " |")
    lines += _mistakes([(e["index"], e["score"], e["label"], e["predicted"], e["text"]) for e in report["errors"]])
    return "\n".join(lines) + "\n"


def _mistakes(rows: list[tuple], score_name: str = "Score") -> list[str]:
    """The "most confident mistakes" section from (index, score, true, predicted, text) rows."""
    lines = ["", "## Most confident mistakes", ""]
    if not rows:
        return [*lines, "No mistakes."]
    lines += [f"| Index | {score_name} | True | Predicted | Text |", "|---:|---:|---|---|---|"]
    for index, score, true, predicted, text in rows:
        lines.append(f"| {index} | {score:.4f} | {_md_cell(true)} | {_md_cell(predicted)} "
                     f"| {'' if text is None else _md_cell(text)} |")
    return lines


@with_fonts
def _plot_confusion(report: dict, path: Path, title: str) -> Path:
    names, counts = report["label_names"], np.asarray(report["confusion_matrix"])
    totals = counts.sum(axis=1, keepdims=True)
    # Colour by row share so a small class's mistakes are as visible as a large one's.
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    k = len(names)
    fig = _new_figure(max(4.5, 0.7 * k + 2.5), max(4.0, 0.7 * k + 2.0))
    ax = fig.add_subplot()
    image = ax.imshow(share * 100, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, label="% of true class")
    fontsize = 10 if k <= 10 else 7
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{counts[i, j]}\n{share[i, j] * 100:.1f}%", ha="center", va="center",
                    fontsize=fontsize, color="white" if share[i, j] > 0.5 else "black")
    rotate = k > 4 or max(len(n) for n in names) > 8
    ax.set_xticks(range(k), names, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(f"{title}\nconfusion matrix (n={report['num_examples']})")
    return _save_figure(fig, path)


@with_fonts
def _plot_roc(report: dict, path: Path, title: str) -> Path:
    fig = _new_figure(5, 5)
    ax = fig.add_subplot()
    ax.plot(report["roc_curve"]["fpr"], report["roc_curve"]["tpr"], lw=2,
            label=f"ROC (AUC = {report['roc_auc']:.4f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate",
           title=f"{title}\nROC curve (positive class: {report['label_names'][1]})")
    ax.legend(loc="lower right")
    return _save_figure(fig, path)


def write_report(report: dict, output_dir, title="Evaluation report") -> list[Path]:
    """Write JSON, JSONL, Markdown and PNG renderings of `report`; returns the written paths."""
    out = Path(output_dir)
    summary = {key: value for key, value in report.items() if key != "errors"}
    errors = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in report["errors"])
    if report.get("problem_type") == "multi":
        from .evaluate_multilabel import multi_label_markdown, plot_per_label

        return [
            atomic_write(out / "eval_report.json", (json.dumps(summary, indent=2) + "\n").encode("utf-8")),
            atomic_write(out / "errors.jsonl", errors.encode("utf-8")),
            atomic_write(out / "eval_report.md", multi_label_markdown(report, title, _model_lines(report)).encode()),
            plot_per_label(report, out / "per_label.png", title),
        ]
    written = [
        atomic_write(out / "eval_report.json", (json.dumps(summary, indent=2) + "\n").encode("utf-8")),
        atomic_write(out / "errors.jsonl", errors.encode("utf-8")),
        atomic_write(out / "eval_report.md", _markdown(report, title).encode("utf-8")),
        _plot_confusion(report, out / "confusion_matrix.png", title),
    ]
    if report.get("roc_auc") is not None and report.get("roc_curve"):
        written.append(_plot_roc(report, out / "roc_curve.png", title))
    return written


def _series(history: list[dict], key: str) -> tuple[list[float], list[float]]:
    points = [(row.get("epoch", i + 1), row[key]) for i, row in enumerate(history) if row.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


@with_fonts
def plot_training_curves(history: list[dict], path) -> Path:
    """Loss and accuracy per epoch, side by side; series absent from `history` are skipped."""
    if not history:
        raise ValueError("history is empty: nothing to plot")
    fig = _new_figure(11, 4.2)
    for position, (name, series) in enumerate(_PANELS, start=1):
        ax = fig.add_subplot(1, 2, position)
        for key, label in series.items():
            epochs, values = _series(history, key)
            if values:  # markers keep a single-epoch run visible
                ax.plot(epochs, values, marker="o", ls="--" if key.endswith("f1") else "-", label=label)
        if ax.lines:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="Epoch", ylabel=name.lower(), title=f"{name} per epoch")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Training curves ({len(history)} epochs)")
    return _save_figure(fig, Path(path))


@with_fonts
def plot_pretraining(history: list[dict], path) -> Path:
    """Language-model perplexity: on the training texts as pre-training went, and on validation after each epoch."""
    fig = _new_figure(6.5, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    curve = [point for row in history for point in row.get("train_curve", [])]
    if curve:
        ax.plot(*zip(*curve), label="training texts (running)")
    ax.plot([row["pretrain_epoch"] for row in history], [row["valid_perplexity"] for row in history], marker="o",
            label="validation texts")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="Epoch", ylabel="perplexity", title=f"Language-model pre-training ({len(history)} epochs)")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save_figure(fig, Path(path))


def evaluate_texts(classifier, texts: Sequence[str], labels, output_dir, title="Evaluation report",
                   batch_size: int = 256) -> dict:
    """Predict with a loaded classifier (see textrnn.load), then compute and write the report.
    labels: a class id per text, or for a multi-label model a list of label ids per text."""
    probs = classifier.predict_proba(texts, batch_size=batch_size)
    if classifier.multi_label:
        from .evaluate_multilabel import compute_multi_label_report
        from .multilabel import multi_hot

        targets = multi_hot(labels, len(classifier.labels))
        report = compute_multi_label_report(targets, probs, classifier.labels, classifier.thresholds, texts=texts)
    else:
        report = compute_report(labels, probs, classifier.labels, texts=texts)
    choice = classifier.config.get("tokenizer_choice")
    report["tokenizer"] = choice or {"kind": classifier.tokenizer_config.kind}
    if classifier.config.get("pretraining"):
        report["pretraining"] = classifier.config["pretraining"]
    write_report(report, output_dir, title=title)
    return report
