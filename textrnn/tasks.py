"""The label shape of a classifier, chosen once: one label per text, or any number of them.

    task = make_task(problem_type, label_names, thresholds)   # "single" -> SingleLabel, "multi" -> MultiLabel

A task is the one place that knows what the label shape changes (as fastText's Loss classes and transformers'
problem_type are):
- training: the settings that depend on it, the loss and its weights, the correct count, the validation metrics;
- the labels as arrays: class ids [n], or a 0/1 matrix [n, labels];
- the decision: probabilities (softmax or sigmoid), the rule that picks labels (argmax, or each label's tuned
  threshold, saved in config.json) and the shape of a result;
- the report: its metrics, files and figures, and its one-line summary.

Nothing else branches on the label shape: only make_task and the label reader (labels.py), which reads raw
columns, look at it. The loss works on tensors, the rest on numpy arrays.
"""

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from . import metrics
from .errors import ConfigError

PROBLEM_TYPES = ("single", "multi")


class SingleLabel:
    """One label per text: softmax over the classes, cross-entropy, argmax."""

    problem_type = "single"

    def __init__(self, label_names, thresholds=None, temperature=None):
        self.labels = list(label_names)
        self.temperature = float(temperature or 1.0)  # fitted on the validation split when training ended

    # ----------------------------------------------------------------- labels as arrays

    def label_array(self, labels: list) -> np.ndarray:
        return np.asarray(labels, dtype=np.int64)  # [n] class ids

    def label_counts(self, labels: list) -> np.ndarray:
        """Texts per class."""
        return np.bincount(labels, minlength=len(self.labels))

    def ids_of(self, label) -> list[int]:
        """The label ids of one text's label value."""
        return [label]

    stratify_validation = True  # a held-out validation split keeps the classes' shares

    # ----------------------------------------------------------------- training

    def training_settings(self, config, choose_metric: bool):
        """The config with the settings that depend on the label shape checked and resolved."""
        if config.pos_weight == "balanced":
            raise ConfigError("--pos-weight weights each label's positives in multi-label data; for single-label data "
                              "use --class-weight balanced")
        config = replace(config, pos_weight="none")
        if config.class_weight == "balanced" and choose_metric:
            # Accuracy would favour the epoch that ignores rare classes, the very thing the weights are there to stop.
            config = replace(config, metric="macro_f1")
        return config

    def loss(self, config, labels: np.ndarray, device) -> "CrossEntropy":
        """--class-weight balanced: n / (classes * count) per class."""
        weight = None
        if config.class_weight == "balanced":
            counts = np.bincount(labels, minlength=int(labels.max()) + 1)
            weight = np.where(counts > 0, len(labels) / (len(counts) * np.maximum(counts, 1)), 0.0)
            weight = torch.tensor(weight, dtype=torch.float32, device=device)
        return CrossEntropy(weight)

    def count_correct(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (logits.argmax(-1) == labels).sum()

    def validation_metrics(self, logits: torch.Tensor, targets: np.ndarray) -> dict:
        """Accuracy and macro-F1 of the argmax."""
        return metrics.accuracy_and_macro_f1(targets, logits.argmax(-1).numpy(), len(self.labels))

    # ----------------------------------------------------------------- the training log

    loss_name, accuracy_name = "loss", "accuracy"  # in the log and TensorBoard

    def loss_per_output(self, loss: float) -> float:
        return loss  # cross-entropy: one term per text

    def epoch_metrics(self, row: dict) -> str:
        return (f"train loss {row['train_loss']:.4f} acc {row['train_accuracy']:6.2%} | valid loss "
                f"{row['valid_loss']:.4f} acc {row['valid_accuracy']:6.2%} f1 {row['valid_macro_f1']:6.2%}")

    def epoch_legend(self) -> str | None:
        return None

    def tune_decision(self, probabilities, labels: list) -> dict:
        """The config.json entries of the decision rule, tuned on the validation split (probabilities(): its
        texts' probabilities; labels: theirs). Argmax has nothing to tune."""
        return {}

    def linear_fits(self, features, labels: np.ndarray):
        """The linear model's fit at a given C on features [n, columns]: a function from C to (weights [columns,
        classes], bias [classes]) of its logits. Two classes: a logistic regression, one weight vector (scikit-
        learn's L-BFGS). Past two: a regression per class against the rest, all fitted together, each C from the
        last one's weights (logistic.py: 4.2 s for `category`'s walk, where scikit-learn's softmax took 7.5 s
        with SAG and 61 s with L-BFGS). A class without training texts gets a bias that keeps it from being
        chosen."""
        present = np.unique(labels)
        if len(present) > 2:
            from .logistic import RegularisationPath

            path = RegularisationPath(features, labels[:, None] == present[None, :])
            return lambda c: placed(path.fit(c), present, features.shape[1], len(self.labels), -30.0)
        return lambda c: self.fit_two_classes(features, labels, c)

    def fit_two_classes(self, features, labels: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.linear_model import LogisticRegression

        fitted = LogisticRegression(C=c, max_iter=1000, solver="lbfgs", random_state=0).fit(features, labels)
        weights = np.zeros((features.shape[1], len(self.labels)), dtype=np.float32)
        bias = np.full(len(self.labels), -30.0, dtype=np.float32)
        # one weight vector: the second class's logit against the first's 0
        weights[:, fitted.classes_[1]], bias[fitted.classes_] = fitted.coef_[0], (0.0, fitted.intercept_[0])
        return weights, bias

    # ----------------------------------------------------------------- the decision

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float() / self.temperature, dim=-1)

    def calibrate(self, logits: np.ndarray, labels: list) -> dict:
        """The temperature that makes the softmax's confidence match its accuracy on these (validation) texts:
        config.json's temperature. The argmax, and so every decision, stays as it was."""
        self.temperature = metrics.softmax_temperature(logits, self.label_array(labels))
        return {"temperature": self.temperature}

    def calibration(self, logits: np.ndarray, labels: list) -> dict:
        """How well the confidence of the top label matches its accuracy, before and after the temperature."""
        labels = self.label_array(labels)
        right = logits.argmax(axis=1) == labels
        raw, scaled = (np.max(self.softmax(logits, temperature), axis=1) for temperature in (1.0, self.temperature))
        return {"temperature": self.temperature, "before": metrics.reliability(raw, right),
                "after": metrics.reliability(scaled, right)}

    def describe_calibration(self, values: dict) -> str:
        return (f"calibration: temperature {values['temperature']:.3f}, fitted on the validation split so that the "
                "scores match how often the label is right")

    @staticmethod
    def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
        return torch.softmax(torch.from_numpy(logits).float() / temperature, dim=-1).numpy()

    def format_results(self, probs: np.ndarray, top_k: int | None | str = "auto",
                       threshold: float | None = None) -> list:
        """{"label", "score"} per row for top_k 1 ("auto"); a list of them, best first, for more (None: all).
        With a threshold (as fastText's predict-prob), a list per row of those of the top_k scoring at least it:
        it may be empty."""
        k = 1 if top_k == "auto" else len(self.labels) if top_k is None else min(top_k, len(self.labels))
        results = []
        for row in probs:
            ranked = [{"label": self.labels[i], "score": float(row[i])} for i in np.argsort(-row, kind="stable")[:k]]
            if threshold is not None:
                results.append([item for item in ranked if item["score"] >= threshold])
            else:
                results.append(ranked[0] if k == 1 and top_k in (1, "auto") else ranked)
        return results

    # ----------------------------------------------------------------- the report

    def compute_report(self, labels, probs: np.ndarray, texts=None) -> dict:
        return metrics.single_label_report(labels, probs, self.labels, texts=texts)

    def write_report(self, report: dict, output_dir, title: str):
        from .report import write_single_label_report

        return write_single_label_report(report, output_dir, title)

    def summary_line(self, report: dict) -> str:
        """One line for logs: 'accuracy 85.32% | macro-F1 85.10% | n=872'."""
        parts = [f"accuracy {report['accuracy'] * 100:.2f}%", f"macro-F1 {report['macro_f1'] * 100:.2f}%"]
        if report.get("roc_auc") is not None:
            parts.append(f"ROC-AUC {report['roc_auc']:.4f}")
        parts.append(f"n={report['num_examples']}")
        return " | ".join(parts)

    def describe(self) -> str:
        return f"labels {self.labels}"


class MultiLabel:
    """Any number of labels per text: a sigmoid per label, binary cross-entropy, each label's own threshold."""

    problem_type = "multi"

    def __init__(self, label_names, thresholds=None, temperature=None):
        self.labels = list(label_names)
        # per label, fitted on the validation split when training ended (calibrate)
        self.temperature = np.asarray(temperature or [1.0] * len(self.labels), dtype=np.float32)
        # per label, tuned on the validation split when training ended (tune_decision)
        self.thresholds = np.asarray(thresholds or [metrics.DEFAULT_THRESHOLD] * len(self.labels), dtype=np.float32)

    # ----------------------------------------------------------------- labels as arrays

    def label_array(self, labels: list) -> np.ndarray:
        return metrics.multi_hot(labels, len(self.labels))  # [n, labels] 0/1

    def label_counts(self, labels: list) -> np.ndarray:
        """Texts per label (a text counts once for each of its labels)."""
        return self.label_array(labels).sum(axis=0).astype(np.int64)

    def ids_of(self, label) -> list[int]:
        return list(label)

    stratify_validation = False  # label sets are too many to stratify by

    # ----------------------------------------------------------------- training

    def training_settings(self, config, choose_metric: bool):
        if config.class_weight != "none":
            raise ConfigError("--class-weight weights the classes of single-label data; for multi-label data use "
                              "--pos-weight balanced")
        # auto means balanced: it gained 1.5 points of validation macro-F1 on GoEmotions (docs/RESULTS.md)
        config = replace(config, pos_weight="balanced" if config.pos_weight == "auto" else config.pos_weight)
        if choose_metric:  # the accuracy of a whole label set is rarely the goal
            config = replace(config, metric="macro_f1")
        return config

    def loss(self, config, labels: np.ndarray, device) -> "BinaryCrossEntropy":
        """--pos-weight balanced: negatives / positives per label (1 for a label without positives)."""
        weight = None
        if config.pos_weight == "balanced":
            positives = labels.sum(axis=0)
            weight = np.where(positives > 0, (len(labels) - positives) / np.maximum(positives, 1), 1.0)
            weight = torch.tensor(weight, dtype=torch.float32, device=device)
        return BinaryCrossEntropy(weight)

    def count_correct(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Texts with every label right at the 0.5 threshold (subset accuracy)."""
        return ((logits > 0) == labels.bool()).all(dim=1).sum()

    def linear_fits(self, features, labels: np.ndarray):
        """The linear model's fit at a given C on features [n, columns]: a function from C to (weights [columns,
        labels], bias [labels]), a logistic regression per label, all fitted together, each C from the last one's
        weights (logistic.py). A label that every training text has, or none, gets a bias alone."""
        from .logistic import RegularisationPath

        varied = np.flatnonzero(labels.min(axis=0) != labels.max(axis=0))
        constant = np.where(labels[0] > 0, 30.0, -30.0).astype(np.float32)  # a sigmoid of 1, or of 0, at any score
        path = RegularisationPath(features, labels[:, varied])
        return lambda c: placed(path.fit(c), varied, features.shape[1], len(self.labels), constant)

    def validation_metrics(self, logits: torch.Tensor, targets: np.ndarray) -> dict:
        """Subset accuracy and macro-F1 at thresholds tuned on these very texts, as the saved model will use them."""
        probs = torch.sigmoid(logits).numpy()
        thresholds, _ = metrics.tune_thresholds(targets, probs)
        return metrics.subset_accuracy_and_macro_f1(targets, metrics.predict(probs, thresholds))

    # ----------------------------------------------------------------- the training log

    loss_name, accuracy_name = "loss/label", "exact_match"  # in the log and TensorBoard

    def loss_per_output(self, loss: float) -> float:
        return loss / len(self.labels)  # the training loss sums a binary cross-entropy per label

    def epoch_metrics(self, row: dict) -> str:
        return (f"train loss/label {self.loss_per_output(row['train_loss']):.4f} exact {row['train_accuracy']:6.2%} "
                f"| valid macro-F1 {row['valid_macro_f1']:6.2%} loss/label {self.loss_per_output(row['valid_loss']):.4f}"
                f" exact {row['valid_accuracy']:6.2%}")

    def epoch_legend(self) -> str:
        return (f"epoch lines: loss/label is the binary cross-entropy averaged over the {len(self.labels)} labels (the "
                "training loss sums them); exact: the share of texts with every label right (training: at 0.5; "
                "validation: at the thresholds tuned on it, as for its macro-F1)")

    def tune_decision(self, probabilities, labels: list) -> dict:
        """Each label's threshold, tuned for its F1 on the validation split: config.json's thresholds."""
        thresholds, global_threshold = metrics.tune_thresholds(self.label_array(labels), probabilities())
        self.thresholds = np.asarray(thresholds, dtype=np.float32)
        return {"thresholds": thresholds, "global_threshold": global_threshold}

    def describe_decision(self, values: dict) -> str:
        thresholds = values["thresholds"]
        return (f"thresholds: tuned per label on the validation split for F1 (from {min(thresholds):.2f} to "
                f"{max(thresholds):.2f}; {values['global_threshold']:.2f} for labels with under "
                f"{metrics.MIN_TUNING_POSITIVES} validation positives)")

    # ----------------------------------------------------------------- the decision

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits.float() / torch.from_numpy(self.temperature).to(logits.device))

    def calibrate(self, logits: np.ndarray, labels: list) -> dict:
        """Each label's temperature, so that its sigmoid's scores match how often it applies on these (validation)
        texts: config.json's temperature. The thresholds are tuned afterwards, on the calibrated scores."""
        self.temperature = np.asarray(metrics.sigmoid_temperatures(logits, self.label_array(labels)), np.float32)
        return {"temperature": [float(value) for value in self.temperature]}

    def describe_calibration(self, values: dict) -> str:
        temperatures = values["temperature"]
        return (f"calibration: a temperature per label (from {min(temperatures):.3f} to {max(temperatures):.3f}), "
                "fitted on the validation split so that each label's score matches how often it applies")

    def calibration(self, logits: np.ndarray, labels: list) -> dict:
        """How well every label's score matches how often the label applies, before and after the temperatures."""
        targets = self.label_array(labels)
        raw = torch.sigmoid(torch.from_numpy(logits).float()).numpy()
        scaled = self.probabilities(torch.from_numpy(logits)).numpy()
        return {"temperature": [float(value) for value in self.temperature],
                "before": metrics.reliability(raw, targets), "after": metrics.reliability(scaled, targets)}

    def format_results(self, probs: np.ndarray, top_k: int | None | str = "auto",
                       threshold: float | None = None) -> list:
        """{"labels": every label whose score passes its threshold (each label's tuned one, or `threshold` for all),
        best first; "scores": the top_k best {"label", "score"} ("auto" or None: every label), and every label of
        "labels" among them, so that no decision comes without its score}."""
        k = len(self.labels) if top_k in ("auto", None) else min(top_k, len(self.labels))
        thresholds = self.thresholds if threshold is None else np.full(len(self.labels), threshold, np.float32)
        results = []
        for row in probs:
            best = np.argsort(-row, kind="stable")
            passed = [i for i in best if row[i] >= thresholds[i]]
            shown = [i for i in best if i in set(best[:k]) | set(passed)]
            results.append({"labels": [self.labels[i] for i in passed],
                            "scores": [{"label": self.labels[i], "score": float(row[i])} for i in shown]})
        return results

    # ----------------------------------------------------------------- the report

    def compute_report(self, labels, probs: np.ndarray, texts=None) -> dict:
        """labels: a list of label ids per text."""
        return metrics.multi_label_report(self.label_array(labels), probs, self.labels, self.thresholds, texts=texts)

    def write_report(self, report: dict, output_dir, title: str):
        from .report import write_multi_label_report

        return write_multi_label_report(report, output_dir, title)

    def summary_line(self, report: dict) -> str:
        return (f"macro-F1 {report['macro_f1'] * 100:.2f}% | micro-F1 {report['micro_f1'] * 100:.2f}% | samples-F1 "
                f"{report['samples_f1'] * 100:.2f}% | subset accuracy {report['subset_accuracy'] * 100:.2f}% | Hamming "
                f"loss {report['hamming_loss']:.4f} | n={report['num_examples']}")

    def describe(self) -> str:
        return f"multi-label: labels {self.labels}"


class CrossEntropy:
    """The single-label loss: cross-entropy over the classes, each class weighted by `weight` (or not)."""

    def __init__(self, weight: torch.Tensor | None):
        self.weight = weight

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        # labels: [batch] class ids
        return F.cross_entropy(logits.float(), labels, weight=self.weight, reduction=reduction)


class BinaryCrossEntropy:
    """The multi-label loss: a binary cross-entropy per label, summed over the labels; `weight` is BCE's
    pos_weight."""

    def __init__(self, weight: torch.Tensor | None):
        self.weight = weight

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        # labels: [batch, labels] 0/1
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels, pos_weight=self.weight, reduction="none")
        return loss.sum(dim=1).mean() if reduction == "mean" else loss.sum()


TASKS = {"single": SingleLabel, "multi": MultiLabel}


def placed(fitted: tuple[np.ndarray, np.ndarray], outputs: np.ndarray, columns: int, width: int,
           bias_elsewhere) -> tuple[np.ndarray, np.ndarray]:
    """(weights [columns, width], bias [width]): the fitted weights and bias of these outputs in their places,
    zero weights and bias_elsewhere (a value, or one per output) for the rest."""
    weights = np.zeros((columns, width), dtype=np.float32)
    bias = np.broadcast_to(np.asarray(bias_elsewhere, dtype=np.float32), (width,)).copy()
    weights[:, outputs], bias[outputs] = fitted
    return weights, bias


def make_task(problem_type: str, label_names, thresholds=None, temperature=None) -> SingleLabel | MultiLabel:
    """The task of `problem_type` ("single" or "multi"), over these labels (and a multi-label model's thresholds,
    and a fitted temperature)."""
    if problem_type not in TASKS:
        raise ConfigError(f"unknown problem type {problem_type!r}: choose one of {', '.join(TASKS)}")
    return TASKS[problem_type](label_names, thresholds, temperature)


def task_of_model(config: dict) -> SingleLabel | MultiLabel:
    """The task of a saved model, from its config.json (a model saved before multi-label existed is single-label)."""
    return make_task(config.get("problem_type", "single"), config["labels"], config.get("thresholds"),
                     config.get("temperature"))


def task_of_report(report: dict) -> SingleLabel | MultiLabel:
    """The task that computed a report (single-label reports carry no problem_type)."""
    return make_task(report.get("problem_type", "single"), report["label_names"], report.get("thresholds"))
