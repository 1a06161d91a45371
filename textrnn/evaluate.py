"""Evaluating a saved model on labelled texts: its predictions, the report its task computes, the files.

    textrnn evaluate runs/sst2 --dataset ../shared/data/sst2 --split validation

The report is what `classify_text` answers, scored: argmax for a single-label model, each label's tuned threshold
for a multi-label one. training/train.py ends with the same call on the test split.
"""

from collections.abc import Sequence
from pathlib import Path

import torch

from .inference import check_texts
from .tasks import task_of_report


def evaluate_texts(classifier, texts: Sequence[str], labels, output_dir, title="Evaluation report",
                   batch_size: int = 256) -> dict:
    """Predict with a loaded classifier (see textrnn.load), then compute and write the report.
    labels: a class id per text, or for a multi-label model a list of label ids per text."""
    logits = classifier.logits(check_texts(texts)[0], batch_size=batch_size)
    probs = classifier.task.probabilities(torch.from_numpy(logits)).numpy()
    report = classifier.task.compute_report(labels, probs, texts=texts)
    report["calibration"] = classifier.task.calibration(logits, labels)
    report["tokenizer"] = classifier.config.get("tokenizer_choice") or {"kind": classifier.tokenizer_config.kind}
    if classifier.config.get("pretraining"):
        report["pretraining"] = classifier.config["pretraining"]
    write_report(report, output_dir, title=title)
    return report


def write_report(report: dict, output_dir, title: str = "Evaluation report") -> list[Path]:
    """eval_report.json, errors.jsonl, eval_report.md and the report's figures; returns the written paths."""
    return task_of_report(report).write_report(report, output_dir, title)


def format_report_line(report: dict) -> str:
    """The report's one-line summary for logs, e.g. 'accuracy 85.32% | macro-F1 85.10% | n=872'."""
    return task_of_report(report).summary_line(report)
