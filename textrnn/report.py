"""An evaluation report as files: eval_report.json, errors.jsonl, eval_report.md and its figures.

The task (tasks.py) computes the report dict and picks the writer: `write_single_label_report` or
`write_multi_label_report`. Both write the same JSON and JSONL files; the Markdown and figures differ.
"""

import json
from pathlib import Path
from typing import Any

from .figures import most_supported, plot_confusion, plot_per_label, plot_reliability, plot_roc, shown_classes_note
from .fileio import atomic_write

MAX_TEXT_CHARS = 200
RELIABILITY_FIGURE = "reliability.png"
# The Markdown confusion table has a cell per pair of classes: past this many columns no viewer shows it whole, so
# it keeps the classes with the most support (eval_report.json keeps the whole matrix).
MAX_MARKDOWN_CONFUSION_CLASSES = 20


def md_cell(value: Any, limit: int = MAX_TEXT_CHARS) -> str:
    text = " ".join(str(value).split())  # newlines would end the table row
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("\\", "\\\\").replace("|", "\\|")


def model_lines(report: dict) -> list[str]:
    lines = []
    if choice := report.get("tokenizer"):
        lines.append(f"- Tokenizer: {choice.get('kind')}" + (f" ({choice['reason']})" if choice.get("reason") else ""))
    if pretraining := report.get("pretraining"):
        source = f"the training texts and {pretraining['unlabeled']}" if pretraining.get("unlabeled") else \
            "the training texts"
        perplexities = " → ".join(f"{value:,.1f}" for value in pretraining["valid_perplexity"])
        lines.append(f"- Pre-training: {pretraining['epochs']} epoch{'' if pretraining['epochs'] == 1 else 's'} as a language model on {pretraining['texts']:,} "
                     f"texts ({source}); validation perplexity {perplexities} ({pretraining['curve']})")
    if calibration := report.get("calibration"):
        lines.append(f"- Calibration: scores divided by a temperature fitted on the validation split; expected "
                     f"calibration error here {calibration['before']['ece'] * 100:.2f}% before it, "
                     f"{calibration['after']['ece'] * 100:.2f}% after ({RELIABILITY_FIGURE})")
    return lines


def write_reliability(report: dict, out: Path, title: str) -> list[Path]:
    """The reliability diagram, for a report that measured calibration."""
    return [plot_reliability(report["calibration"], out / RELIABILITY_FIGURE, title)] if report.get("calibration") \
        else []


def confusion_table(report: dict) -> list[str]:
    """The confusion matrix as a Markdown table, of at most MAX_MARKDOWN_CONFUSION_CLASSES classes."""
    matrix = report["confusion_matrix"]
    shown = most_supported([sum(row) for row in matrix], MAX_MARKDOWN_CONFUSION_CLASSES)
    names = [report["label_names"][i] for i in shown]
    lines = ["", "## Confusion matrix", "", "Rows are true labels, columns are predicted labels."]
    if note := shown_classes_note(len(shown), len(matrix)):
        lines.append(f"Only {note} are shown; eval_report.json has the whole matrix.")
    lines += ["", "| true \\ predicted | " + " | ".join(md_cell(n) for n in names) + " |",
              "|---|" + "---:|" * len(names)]
    for name, i in zip(names, shown):
        lines.append(f"| **{md_cell(name)}** | " + " | ".join(str(matrix[i][j]) for j in shown) + " |")
    return lines


def single_label_markdown(report: dict, title: str) -> str:
    lines = [f"# {title}", "", *model_lines(report), f"- Examples: {report['num_examples']}",
             f"- Accuracy: {report['accuracy'] * 100:.2f}%", f"- Macro-F1: {report['macro_f1'] * 100:.2f}%"]
    if report.get("roc_auc") is not None:
        lines.append(f"- ROC-AUC: {report['roc_auc']:.4f}")
    lines += ["", "## Per-class metrics", "", "| Class | Precision | Recall | F1 | Support |",
              "|---|---:|---:|---:|---:|"]
    for name, m in report["per_class"].items():
        lines.append(f"| {md_cell(name)} | {m['precision'] * 100:.2f}% | {m['recall'] * 100:.2f}% "
                     f"| {m['f1'] * 100:.2f}% | {m['support']} |")
    lines += confusion_table(report)
    lines += mistakes([(e["index"], e["score"], e["label"], e["predicted"], e["text"]) for e in report["errors"]])
    return "\n".join(lines) + "\n"


def mistakes(rows: list[tuple], score_name: str = "Score") -> list[str]:
    """The "most confident mistakes" section from (index, score, true, predicted, text) rows."""
    lines = ["", "## Most confident mistakes", ""]
    if not rows:
        return [*lines, "No mistakes."]
    lines += [f"| Index | {score_name} | True | Predicted | Text |", "|---:|---:|---|---|---|"]
    for index, score, true, predicted, text in rows:
        lines.append(f"| {index} | {score:.4f} | {md_cell(true)} | {md_cell(predicted)} "
                     f"| {'' if text is None else md_cell(text)} |")
    return lines


def multi_label_markdown(report: dict, title: str, header: list[str]) -> str:
    lines = [f"# {title}", "", *header, f"- Examples: {report['num_examples']}",
             f"- Macro-F1: {report['macro_f1'] * 100:.2f}%", f"- Micro-F1: {report['micro_f1'] * 100:.2f}%",
             f"- Samples-F1: {report['samples_f1'] * 100:.2f}%",
             f"- Subset accuracy (every label right): {report['subset_accuracy'] * 100:.2f}%",
             f"- Hamming loss: {report['hamming_loss']:.4f}", "", "## Per-label metrics", "",
             "| Label | Threshold | Precision | Recall | F1 | Support |", "|---|---:|---:|---:|---:|---:|"]
    for (name, m), threshold in zip(report["per_label"].items(), report["thresholds"]):
        lines.append(f"| {md_cell(name)} | {threshold:.2f} | {m['precision'] * 100:.2f}% | {m['recall'] * 100:.2f}% "
                     f"| {m['f1'] * 100:.2f}% | {m['support']} |")
    lines += mistakes([(e["index"], e["score"], ", ".join(e["labels"]), ", ".join(e["predicted"]), e["text"])
                        for e in report["errors"]], score_name="Margin")
    return "\n".join(lines) + "\n"




def write_data_files(report: dict, out: Path) -> list[Path]:
    """eval_report.json (everything but the mistakes) and errors.jsonl (the mistakes)."""
    summary = {key: value for key, value in report.items() if key != "errors"}
    errors = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in report["errors"])
    return [atomic_write(out / "eval_report.json", (json.dumps(summary, indent=2) + "\n").encode("utf-8")),
            atomic_write(out / "errors.jsonl", errors.encode("utf-8"))]


def write_single_label_report(report: dict, output_dir, title: str) -> list[Path]:
    out = Path(output_dir)
    written = [*write_data_files(report, out),
               atomic_write(out / "eval_report.md", single_label_markdown(report, title).encode("utf-8")),
               plot_confusion(report, out / "confusion_matrix.png", title)]
    if report.get("roc_auc") is not None and report.get("roc_curve"):
        written.append(plot_roc(report, out / "roc_curve.png", title))
    return written + write_reliability(report, out, title)


def write_multi_label_report(report: dict, output_dir, title: str) -> list[Path]:
    out = Path(output_dir)
    markdown = multi_label_markdown(report, title, model_lines(report))
    return [*write_data_files(report, out), atomic_write(out / "eval_report.md", markdown.encode("utf-8")),
            plot_per_label(report, out / "per_label.png", title), *write_reliability(report, out, title)]
