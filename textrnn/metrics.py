"""Metrics: arrays in, JSON-ready dicts out. Pure functions, shared by validation, reports and the benchmarks.

single_label_report   accuracy, macro-F1, per-class P/R/F1, the confusion matrix, ROC for two classes
multi_label_report    micro/macro/samples-F1, subset accuracy, Hamming loss, per-label P/R/F1 at the thresholds
tune_thresholds       each label's threshold for its F1 on validation rows (a global one for rare labels)

tasks.py chooses which applies; nothing here asks. scikit-learn is imported inside the functions that use it,
so that `import textrnn` stays light.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

THRESHOLD_GRID = np.round(np.arange(0.02, 0.99, 0.01), 2)
MIN_TUNING_POSITIVES = 5  # a label with fewer positives in validation takes the global threshold
DEFAULT_THRESHOLD = 0.5


# ----------------------------------------------------------------------------- one label per text


def check_single_label_arrays(labels: Any, probs: Any, label_names: Sequence[str], texts: Sequence[str] | None):
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


def single_label_errors(labels, probs, preds, label_names, texts, num_errors: int) -> list[dict]:
    """The wrong predictions, the most confident first."""
    scores = probs[np.arange(len(preds)), preds]
    wrong = np.flatnonzero(preds != labels)
    # Stable sort keeps ties in dataset order, so the listing is reproducible.
    order = wrong[np.argsort(-scores[wrong], kind="stable")][: max(num_errors, 0)]
    return [{"index": int(i), "text": None if texts is None else str(texts[i]),
             "label": label_names[labels[i]], "predicted": label_names[preds[i]], "score": float(scores[i])}
            for i in order]


def per_class(precision, recall, f1, support, label_names) -> dict:
    return {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(label_names, precision, recall, f1, support)}


def single_label_report(labels, probs, label_names, texts=None, num_errors=20) -> dict:
    """Metrics for one evaluation pass of a single-label model (labels: [n] ids, probs: [n, classes])."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score, roc_curve

    label_names = [str(name) for name in label_names]
    labels, probs = check_single_label_arrays(labels, probs, label_names, texts)
    preds = probs.argmax(axis=1)
    class_ids = list(range(len(label_names)))  # explicit so absent classes keep their slot
    precision, recall, f1, support = precision_recall_fscore_support(labels, preds, labels=class_ids, zero_division=0)
    report: dict[str, Any] = {
        "num_examples": len(labels),
        "accuracy": float(np.mean(preds == labels)),
        "macro_f1": float(np.mean(f1)),  # over all declared classes, matching the per-class table
        "per_class": per_class(precision, recall, f1, support, label_names),
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
    report["errors"] = single_label_errors(labels, probs, preds, label_names, texts, num_errors)
    return report


def accuracy_and_macro_f1(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> dict:
    from sklearn.metrics import f1_score

    return {"accuracy": float((preds == labels).mean()),
            "macro_f1": float(f1_score(labels, preds, average="macro", labels=range(num_classes), zero_division=0))}


# ----------------------------------------------------------------------------- any number of labels per text


def multi_hot(rows: Sequence[Sequence[int]], num_labels: int) -> np.ndarray:
    """[len(rows), num_labels] float32, 1 where a row has the label."""
    matrix = np.zeros((len(rows), num_labels), dtype=np.float32)
    for row, ids in enumerate(rows):
        matrix[row, list(ids)] = 1.0
    return matrix


def tune_thresholds(targets: np.ndarray, probs: np.ndarray) -> tuple[list[float], float]:
    """(threshold per label, global threshold): each label's maximises its own F1 on these (validation) rows;
    a label with fewer than MIN_TUNING_POSITIVES positives takes the global one, which maximises micro-F1."""
    targets = targets.astype(bool)
    predicted = probs[:, :, None] >= THRESHOLD_GRID  # [rows, labels, grid]
    true_positives = (predicted & targets[:, :, None]).sum(axis=0)  # [labels, grid]
    predicted_positives = predicted.sum(axis=0)
    positives = targets.sum(axis=0)[:, None]  # [labels, 1]
    f1 = 2 * true_positives / np.maximum(predicted_positives + positives, 1)
    micro = 2 * true_positives.sum(0) / np.maximum(predicted_positives.sum(0) + positives.sum(), 1)
    global_threshold = float(THRESHOLD_GRID[micro.argmax()])
    per_label = THRESHOLD_GRID[f1.argmax(axis=1)]
    rare = positives[:, 0] < MIN_TUNING_POSITIVES
    thresholds = np.where(rare, global_threshold, per_label)
    return [float(t) for t in thresholds], global_threshold


def predict(probs: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    return probs >= np.asarray(thresholds, dtype=probs.dtype)


def subset_accuracy_and_macro_f1(targets: np.ndarray, predicted: np.ndarray) -> dict:
    """multi_label_metrics' subset accuracy and macro-F1 alone, by the same formula (F1 = 2 tp / (true + predicted),
    0 where a label is neither), in a twentieth of the time: the linear model's share is chosen on 21 of them."""
    targets, predicted = targets.astype(bool), predicted.astype(bool)
    true_positives = (targets & predicted).sum(axis=0).astype(np.float64)
    either = (targets.sum(axis=0) + predicted.sum(axis=0)).astype(np.float64)
    f1 = np.divide(2 * true_positives, either, out=np.zeros_like(either), where=either > 0)
    return {"accuracy": float((targets == predicted).all(axis=1).mean()), "macro_f1": float(np.mean(f1))}


def multi_label_metrics(targets: np.ndarray, predicted: np.ndarray, label_names: Sequence[str]) -> dict:
    """Micro-, macro- and sample-averaged F1, subset accuracy, Hamming loss and per-label P/R/F1/support."""
    from sklearn.metrics import f1_score, hamming_loss, precision_recall_fscore_support

    targets, predicted = targets.astype(int), predicted.astype(int)
    precision, recall, f1, support = precision_recall_fscore_support(targets, predicted, zero_division=0)
    return {
        "micro_f1": float(f1_score(targets, predicted, average="micro", zero_division=0)),
        "macro_f1": float(np.mean(f1)),
        "samples_f1": float(f1_score(targets, predicted, average="samples", zero_division=0)),
        "subset_accuracy": float((targets == predicted).all(axis=1).mean()),
        "hamming_loss": float(hamming_loss(targets, predicted)),
        "per_label": per_class(precision, recall, f1, support, label_names),
    }


def multi_label_errors(targets, probs, predicted, label_names, thresholds, texts, num_errors: int) -> list[dict]:
    """The texts whose label set is wrong, those with the most confident wrong decision first."""
    margin = np.abs(probs - np.asarray(thresholds)) * (targets != predicted)  # how far past its threshold
    wrong = np.flatnonzero(margin.max(axis=1) > 0)
    order = wrong[np.argsort(-margin[wrong].max(axis=1), kind="stable")][:num_errors]
    return [{"index": int(i), "text": None if texts is None else str(texts[i]),
             "labels": [label_names[j] for j in np.flatnonzero(targets[i])],
             "predicted": [label_names[j] for j in np.flatnonzero(predicted[i])],
             "score": float(margin[i].max())} for i in order]


def multi_label_report(targets, probs, label_names: Sequence[str], thresholds: Sequence[float], texts=None,
                       num_errors: int = 20) -> dict:
    """targets: [n, labels] 0/1; probs: [n, labels] each label's score. Every value is JSON-ready."""
    targets, probs = np.asarray(targets, dtype=np.float32), np.asarray(probs, dtype=np.float64)
    if targets.ndim != 2 or targets.shape != probs.shape or targets.shape[1] != len(label_names):
        raise ValueError(f"targets {targets.shape} and probs {probs.shape} must both be [texts, {len(label_names)}]")
    if len(targets) == 0:
        raise ValueError("cannot evaluate zero examples")
    predicted = predict(probs, thresholds)
    report = {"problem_type": "multi", "num_examples": len(targets), "label_names": list(label_names),
              "thresholds": [float(t) for t in thresholds], **multi_label_metrics(targets, predicted, label_names)}
    report["accuracy"] = report["subset_accuracy"]  # the one-number summary that single-label reports give too
    report["errors"] = multi_label_errors(targets.astype(bool), probs, predicted, label_names, thresholds, texts,
                                          num_errors)
    return report


# ----------------------------------------------------------------------------- calibration


def convex_minimum(slope, low: np.ndarray, high: np.ndarray, steps: int = 60) -> np.ndarray:
    """Where a convex function of one variable is least on [low, high], for many such functions at once, found by
    bisection on the sign of its slope (`slope`: values [m] -> slopes [m]). The sign stays exact where the function's
    own value rounds flat. NaN where the slope keeps one sign over the whole range: the minimum lies at or past an end."""
    no_minimum = (slope(low) >= 0) | (slope(high) <= 0)
    for _ in range(steps):
        middle = (low + high) / 2
        falling = slope(middle) < 0
        low, high = np.where(falling, middle, low), np.where(falling, high, middle)
    return np.where(no_minimum, np.nan, (low + high) / 2)


# 1 / temperature is searched in [0.02, 20]: a softmax 50 times flatter, or 20 times sharper, than the model's.
INVERSE_TEMPERATURE_RANGE = (0.02, 20.0)


def softmax_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T) (Guo et al. 2017); the NLL is
    convex in 1/T. 1 where it has no minimum in range (every validation text right: sharper is always better)."""
    margins = logits.astype(np.float64) - logits[np.arange(len(labels)), labels][:, None]  # 0 for the true class

    def slope(inverse: np.ndarray) -> np.ndarray:  # d NLL / d(1/T) = E[sum_j softmax(margins / T)_j margin_j]
        scaled = margins * inverse[0]
        weights = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        return np.array([np.mean((weights * margins).sum(axis=1) / weights.sum(axis=1))])

    return temperatures(convex_minimum(slope, *inverse_temperature_range(1)))[0]


def sigmoid_temperatures(logits: np.ndarray, targets: np.ndarray) -> list[float]:
    """Each label's temperature, minimising its binary cross-entropy on these rows (convex in 1/T likewise)."""
    agreement = logits.astype(np.float64) * np.where(targets > 0, 1.0, -1.0)  # > 0 where the logit is right

    def slope(inverse: np.ndarray) -> np.ndarray:  # d/d(1/T) of log(1 + exp(-a / T)) = -a sigmoid(-a / T)
        return np.mean(-agreement * np.exp(-np.logaddexp(0.0, agreement * inverse)), axis=0)

    return temperatures(convex_minimum(slope, *inverse_temperature_range(logits.shape[1])))


def inverse_temperature_range(count: int) -> tuple[np.ndarray, np.ndarray]:
    low, high = INVERSE_TEMPERATURE_RANGE
    return np.full(count, low), np.full(count, high)


def temperatures(inverse: np.ndarray) -> list[float]:
    """Temperatures from fitted values of 1 / T; 1 (no change) where the fit found no minimum."""
    return [1.0 if np.isnan(value) else float(1 / value) for value in inverse]


CALIBRATION_BINS = 15


def reliability(confidences: np.ndarray, outcomes: np.ndarray, bins: int = CALIBRATION_BINS) -> dict:
    """Expected calibration error and the reliability diagram's bins: predictions grouped by confidence in equal
    bins; ECE is the support-weighted mean gap between each bin's mean confidence and its share of outcomes."""
    confidences, outcomes = confidences.ravel().astype(np.float64), outcomes.ravel().astype(np.float64)
    which = np.minimum((confidences * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    mean_confidence = np.bincount(which, confidences, bins) / np.maximum(counts, 1)
    accuracy = np.bincount(which, outcomes, bins) / np.maximum(counts, 1)
    ece = float(np.sum(counts * np.abs(mean_confidence - accuracy)) / max(len(confidences), 1))
    return {"ece": ece, "bins": [{"confidence": float(c), "accuracy": float(a), "count": int(n)}
                                 for c, a, n in zip(mean_confidence, accuracy, counts) if n]}
