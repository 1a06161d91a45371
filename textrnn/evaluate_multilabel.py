"""The evaluation report of a multi-label model: the metrics of multilabel.py, as JSON, Markdown and a bar chart.

Each label is predicted when its score passes its own threshold (tuned on validation, saved in config.json),
so the report scores exactly what `classify_text` answers.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import multilabel
from .evaluate import _md_cell, _mistakes, _new_figure, _save_figure, with_fonts


def compute_multi_label_report(targets, probs, label_names: Sequence[str], thresholds: Sequence[float],
                               texts=None, num_errors: int = 20) -> dict:
    """targets: [n, labels] 0/1; probs: [n, labels] each label's score. Every value is JSON-ready."""
    targets, probs = np.asarray(targets, dtype=np.float32), np.asarray(probs, dtype=np.float64)
    if targets.ndim != 2 or targets.shape != probs.shape or targets.shape[1] != len(label_names):
        raise ValueError(f"targets {targets.shape} and probs {probs.shape} must both be [texts, {len(label_names)}]")
    if len(targets) == 0:
        raise ValueError("cannot evaluate zero examples")
    predicted = multilabel.predict(probs, thresholds)
    report = {"problem_type": "multi", "num_examples": len(targets), "label_names": list(label_names),
              "thresholds": [float(t) for t in thresholds],
              **multilabel.multi_label_metrics(targets, predicted, label_names)}
    report["accuracy"] = report["subset_accuracy"]  # the one-number summary that single-label reports give too
    report["errors"] = confident_errors(targets.astype(bool), probs, predicted, label_names, thresholds, texts,
                                        num_errors)
    return report


def confident_errors(targets, probs, predicted, label_names, thresholds, texts, num_errors: int) -> list[dict]:
    """The texts whose label set is wrong, those with the most confident wrong decision first."""
    margin = np.abs(probs - np.asarray(thresholds)) * (targets != predicted)  # how far past its threshold
    wrong = np.flatnonzero(margin.max(axis=1) > 0)
    order = wrong[np.argsort(-margin[wrong].max(axis=1), kind="stable")][:num_errors]
    return [{"index": int(i), "text": None if texts is None else str(texts[i]),
             "labels": [label_names[j] for j in np.flatnonzero(targets[i])],
             "predicted": [label_names[j] for j in np.flatnonzero(predicted[i])],
             "score": float(margin[i].max())} for i in order]


def format_multi_label_line(report: dict) -> str:
    return (f"macro-F1 {report['macro_f1'] * 100:.2f}% | micro-F1 {report['micro_f1'] * 100:.2f}% | samples-F1 "
            f"{report['samples_f1'] * 100:.2f}% | subset accuracy {report['subset_accuracy'] * 100:.2f}% | Hamming "
            f"loss {report['hamming_loss']:.4f} | n={report['num_examples']}")


def multi_label_markdown(report: dict, title: str, header: list[str]) -> str:
    lines = [f"# {title}", "", *header, f"- Examples: {report['num_examples']}",
             f"- Macro-F1: {report['macro_f1'] * 100:.2f}%", f"- Micro-F1: {report['micro_f1'] * 100:.2f}%",
             f"- Samples-F1: {report['samples_f1'] * 100:.2f}%",
             f"- Subset accuracy (every label right): {report['subset_accuracy'] * 100:.2f}%",
             f"- Hamming loss: {report['hamming_loss']:.4f}", "", "## Per-label metrics", "",
             "| Label | Threshold | Precision | Recall | F1 | Support |", "|---|---:|---:|---:|---:|---:|"]
    for (name, m), threshold in zip(report["per_label"].items(), report["thresholds"]):
        lines.append(f"| {_md_cell(name)} | {threshold:.2f} | {m['precision'] * 100:.2f}% | {m['recall'] * 100:.2f}% "
                     f"| {m['f1'] * 100:.2f}% | {m['support']} |")
    lines += _mistakes([(e["index"], e["score"], ", ".join(e["labels"]), ", ".join(e["predicted"]), e["text"])
                        for e in report["errors"]], score_name="Margin")
    return "\n".join(lines) + "\n"


@with_fonts
def plot_per_label(report: dict, path: Path, title: str) -> Path:
    """Precision, recall and F1 of each label as horizontal bars, with each label's support."""
    names = list(report["per_label"])
    metrics = report["per_label"]
    fig = _new_figure(8, max(3.5, 0.32 * len(names) + 1.5))
    ax = fig.add_subplot()
    positions = np.arange(len(names))
    for offset, key in zip((-0.27, 0.0, 0.27), ("precision", "recall", "f1")):
        ax.barh(positions + offset, [metrics[name][key] * 100 for name in names], height=0.27, label=key)
    ax.set_yticks(positions, [f"{name} ({metrics[name]['support']})" for name in names])
    ax.invert_yaxis()
    ax.set(xlim=(0, 100), xlabel="%", title=f"{title}\nper label (support in brackets); macro-F1 "
                                           f"{report['macro_f1'] * 100:.1f}%")
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return _save_figure(fig, path)
