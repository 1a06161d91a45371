"""Every figure textrnn draws, each a function from plain data (a report dict, a history) to a PNG file.

    plot_confusion, plot_roc, plot_per_label     the evaluation report's figures
    plot_training_curves, plot_pretraining       a run's curves

Figures are built with `matplotlib.figure.Figure` and the Agg canvas rather than pyplot, so no display is needed
and nothing lingers in pyplot's registry. matplotlib is imported on the first figure, not with textrnn.
"""

import functools
import io
import logging
import re
import sys
import unicodedata
import warnings
from pathlib import Path

import numpy as np

from .fileio import atomic_write

PANELS = [  # (panel, {history key: legend label}) for plot_training_curves
    ("Loss", {"train_loss": "train", "valid_loss": "validation"}),
    ("Accuracy", {"train_accuracy": "train", "valid_accuracy": "validation",
                  "valid_macro_f1": "validation macro-F1"}),
]
# Label names in Chinese, Japanese or Thai need fonts with those glyphs; matplotlib falls back along this list,
# glyph by glyph, to whichever is installed (Debian: fonts-wqy-microhei or fonts-noto-cjk).
FONT_FALLBACK = ["DejaVu Sans", "Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
                 "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", "Hiragino Sans", "Noto Sans Thai"]
# A figure's size grows with its classes (the confusion matrix's cells as their square): above this many only the
# classes with the most support are drawn, and the title says so. Any more would be unreadable anyway.
MAX_CLASSES_SHOWN = 50
CONFUSION_MAX_SIDE_INCHES = 24.0  # the matrix's side; its cells shrink to fit above 34 classes
MAX_NAME_CHARS = 30  # a tick label longer than this is cut: bbox_inches="tight" would widen the figure to fit it


def new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # attach the raster canvas explicitly; no pyplot, no global state
    return fig


class FontSearch:
    """What this process has done about glyphs no known font has: looked for newly installed fonts (once), the
    families it added, and whether it has said which font to install (once)."""

    def __init__(self):
        self.searched, self.families, self.warned = False, [], False


FONTS = FontSearch()
GLYPH_MISSING = re.compile(r"Glyph (\d+) .*missing from font")
CJK_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC", "FULLWIDTH")


def draw_noting_missing_glyphs(function, args, kwargs) -> tuple:
    """function(*args, **kwargs) with the fallback fonts; its result and the characters no font had (matplotlib's
    'Glyph ... missing' warnings, one per character, are kept from the user: with_fonts says it in one line)."""
    import matplotlib

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with matplotlib.rc_context({"font.family": [*FONT_FALLBACK, *FONTS.families]}):
            result = function(*args, **kwargs)
    missing = set()
    for warning in caught:
        if match := GLYPH_MISSING.match(str(warning.message)):
            missing.add(chr(int(match[1])))
        else:  # any other warning goes on as it came
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return result, missing


def add_new_system_fonts(missing: set[str]) -> bool:
    """matplotlib knows the fonts of its cache (~/.cache/matplotlib), made when it first ran: a font installed since
    is unknown to it until the cache is deleted. Once per process, look through the system's fonts (fontconfig's
    fc-list and the font folders) for files it does not know that have one of the `missing` characters, and add
    them. Whether any was added."""
    from matplotlib import font_manager, ft2font

    if FONTS.searched:
        return False
    FONTS.searched = True
    known = {font.fname for font in font_manager.fontManager.ttflist}
    added = False
    for path in font_manager.findSystemFonts():
        if path in known:
            continue
        try:
            font = ft2font.FT2Font(path)
            if not any(ord(character) in font.get_charmap() for character in missing):
                continue
            font_manager.fontManager.addfont(path)
        except (OSError, RuntimeError, ValueError):  # a font file FreeType cannot read
            continue
        if font.family_name not in FONT_FALLBACK + FONTS.families:
            FONTS.families.append(font.family_name)
        added = True
    return added


def say_which_font(missing: set[str]) -> None:
    """One line on stderr, once per process, in place of matplotlib's warning per missing character."""
    if FONTS.warned:
        return
    FONTS.warned = True
    shown = "".join(sorted(missing)[:10])
    if any(unicodedata.name(character, "").startswith(CJK_SCRIPTS) for character in missing):
        install = "a CJK font: apt-get install fonts-wqy-microhei (or fonts-noto-cjk)"
    else:
        install = "a font that has them (Debian: apt-get install fonts-noto-core)"
    print(f"warning: figures: no installed font has the characters {shown!r}, so they are drawn as boxes; install "
          f"{install}; the next run finds it", file=sys.stderr, flush=True)


def with_fonts(function):
    """Run a plotting function with FONT_FALLBACK (text takes its font when it is made, so the whole function).
    Characters that no font known to matplotlib has send it looking for fonts installed since its font cache was
    made (and the figure is drawn again with them); if none has them either, one line says which font to install."""

    @functools.wraps(function)
    def with_fallback_fonts(*args, **kwargs):
        # Each fallback font that is not installed would log a warning on every figure.
        logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
        result, missing = draw_noting_missing_glyphs(function, args, kwargs)
        if missing and add_new_system_fonts(missing):
            result, missing = draw_noting_missing_glyphs(function, args, kwargs)
        if missing:
            say_which_font(missing)
        return result

    return with_fallback_fonts


def integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def save_figure(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    return atomic_write(path, buf.getvalue())


def most_supported(supports, limit: int = MAX_CLASSES_SHOWN) -> list[int]:
    """The indices of the `limit` classes with the most support (ties: the first), kept in their label order."""
    supports = np.asarray(supports)
    if len(supports) <= limit:
        return list(range(len(supports)))
    return sorted(np.argsort(-supports, kind="stable")[:limit].tolist())


def short_name(name: str, limit: int = MAX_NAME_CHARS) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def shown_classes_note(shown: int, total: int, what: str = "classes") -> str:
    """What a capped figure or table says of the classes it leaves out ("" when it shows them all)."""
    return "" if shown == total else f"the {shown} {what} with the most support (of {total})"


@with_fonts
def plot_confusion(report: dict, path: Path, title: str) -> Path:
    counts = np.asarray(report["confusion_matrix"])
    totals = counts.sum(axis=1, keepdims=True)
    # Colour by row share so a small class's mistakes are as visible as a large one's.
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    shown = most_supported(totals[:, 0])
    counts, share = counts[np.ix_(shown, shown)], share[np.ix_(shown, shown)]
    names = [short_name(report["label_names"][i]) for i in shown]
    k = len(shown)
    cell = min(0.7, CONFUSION_MAX_SIDE_INCHES / k)
    fig = new_figure(max(4.5, cell * k + 2.5), max(4.0, cell * k + 2.0))
    ax = fig.add_subplot()
    image = ax.imshow(share * 100, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, label="% of true class")
    fontsize = 10 if k <= 10 else 7 if k <= 25 else 4.5
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{counts[i, j]}\n{share[i, j] * 100:.1f}%", ha="center", va="center",
                    fontsize=fontsize, color="white" if share[i, j] > 0.5 else "black")
    rotate = k > 4 or max(len(n) for n in names) > 8
    ax.set_xticks(range(k), names, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                  fontsize=None if k <= 25 else 6)
    ax.set_yticks(range(k), names, fontsize=None if k <= 25 else 6)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    note = shown_classes_note(k, len(report["label_names"]))
    ax.set_title(f"{title}\nconfusion matrix (n={report['num_examples']})" + (f"\nof {note}" if note else ""))
    return save_figure(fig, path)


@with_fonts
def plot_roc(report: dict, path: Path, title: str) -> Path:
    fig = new_figure(5, 5)
    ax = fig.add_subplot()
    ax.plot(report["roc_curve"]["fpr"], report["roc_curve"]["tpr"], lw=2,
            label=f"ROC (AUC = {report['roc_auc']:.4f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate",
           title=f"{title}\nROC curve (positive class: {report['label_names'][1]})")
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def history_series(history: list[dict], key: str) -> tuple[list[float], list[float]]:
    points = [(row.get("epoch", i + 1), row[key]) for i, row in enumerate(history) if row.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


@with_fonts
def plot_training_curves(history: list[dict], path) -> Path:
    """Loss and accuracy per epoch, side by side, the best epoch marked (the last row that improved on the
    validation metric: metrics.jsonl's "improved"); series absent from `history` are skipped."""
    if not history:
        raise ValueError("history is empty: nothing to plot")
    fig = new_figure(11, 4.2)
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    best = next((epoch for epoch, row in zip(reversed(epochs), reversed(history)) if row.get("improved")), None)
    for position, (name, series) in enumerate(PANELS, start=1):
        ax = fig.add_subplot(1, 2, position)
        for key, label in series.items():
            xs, values = history_series(history, key)
            if values:  # markers keep a single-epoch run visible
                ax.plot(xs, values, marker="o", ls="--" if key.endswith("f1") else "-", label=label)
        if not ax.lines:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        elif best is not None:
            ax.axvline(best, color="grey", ls=":", lw=1.5, label=f"best epoch ({best}, saved)")
        if ax.lines:
            ax.legend()
        # whole epochs only: a 1-epoch run's axis would otherwise read 0.96 to 1.04
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        if max(epochs) - min(epochs) < 15:
            ax.set_xticks(range(min(epochs), max(epochs) + 1))
        else:
            integer_ticks(ax.xaxis)
        ax.set(xlabel="Epoch", ylabel=name.lower(), title=f"{name} per epoch")
        ax.grid(alpha=0.3)
    count = len(history)
    fig.suptitle(f"Training curves ({count} epoch{'' if count == 1 else 's'}"
                 + (f"; best: epoch {best})" if best is not None else ")"))
    return save_figure(fig, Path(path))


@with_fonts
def plot_pretraining(history: list[dict], path) -> Path:
    """Language-model perplexity: on the training texts as pre-training went, and on validation after each epoch."""
    fig = new_figure(6.5, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    curve = [point for row in history for point in row.get("train_curve", [])]
    if curve:
        ax.plot(*zip(*curve), label="training texts (running)")
    epochs = [row["pretrain_epoch"] for row in history]
    ax.plot(epochs, [row["valid_perplexity"] for row in history], marker="o", label="validation texts")
    ax.set_yscale("log")
    ax.set_xlim(min(epochs) - 1, max(epochs) + 0.1)  # the running curve starts within the first epoch
    if len(epochs) < 15:
        ax.set_xticks(range(min(epochs) - 1, max(epochs) + 1))
    else:
        integer_ticks(ax.xaxis)
    count = len(history)
    ax.set(xlabel="Epoch", ylabel="perplexity",
           title=f"Language-model pre-training ({count} epoch{'' if count == 1 else 's'})")
    ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, Path(path))


@with_fonts
def plot_per_label(report: dict, path: Path, title: str) -> Path:
    """Precision, recall and F1 of each label as horizontal bars, with each label's support."""
    metrics = report["per_label"]
    every_name = list(metrics)
    names = [every_name[i] for i in most_supported([metrics[name]["support"] for name in every_name])]
    fig = new_figure(8, max(3.5, 0.32 * len(names) + 1.5))
    ax = fig.add_subplot()
    positions = np.arange(len(names))
    for offset, key in zip((-0.27, 0.0, 0.27), ("precision", "recall", "f1")):
        ax.barh(positions + offset, [metrics[name][key] * 100 for name in names], height=0.27, label=key)
    ax.set_yticks(positions, [f"{short_name(name)} ({metrics[name]['support']})" for name in names])
    ax.invert_yaxis()
    note = shown_classes_note(len(names), len(every_name), "labels")
    ax.set(xlim=(0, 100), xlabel="%", title=f"{title}\nper label (support in brackets){'; ' + note if note else ''}; "
                                           f"macro-F1 {report['macro_f1'] * 100:.1f}%")
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


@with_fonts
def plot_reliability(calibration: dict, path: Path, title: str) -> Path:
    """The reliability diagram: each confidence bin's share of right answers against its mean confidence, before
    and after the temperature fitted on the validation split; the diagonal is a perfectly calibrated model."""
    fig = new_figure(5.5, 5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="calibrated")
    for key, style in (("before", {"color": "tab:red", "marker": "s"}), ("after", {"color": "tab:blue", "marker": "o"})):
        bins = calibration[key]["bins"]
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], **style,
                label=f"{key} (ECE {calibration[key]['ece'] * 100:.2f}%)")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (mean score in the bin)", ylabel="share right",
           title=f"{title}\nreliability (scores calibrated by a temperature)")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
