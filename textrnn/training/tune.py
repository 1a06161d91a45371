"""Hyper-parameter search: many `textrnn train` runs, the settings chosen by Optuna on the validation split.

    textrnn tune --dataset ../shared/data/sst2 --timeout 20m --output runs/sst2-tune
    textrnn tune --dataset ../shared/data/sst2 --timeout 20m --output runs/sst2-tune     # again: continues the study
    textrnn tune --dataset ../shared/data/sst2 --trials 20 --search lr,hidden_dim,dropout --epochs 5 --output runs/t
    textrnn tune --dataset ../shared/data/sst2 --timeout 2h --output runs/sst2-tune \\
        --storage postgresql://USER:PASSWORD@HOST/DB          # the same on several machines: one study, shared
    textrnn train --config runs/sst2-tune/best_config.json --output runs/sst2-best

Each trial is a normal training run (textrnn.training.train.train) in RUN/trials/NNNN, with the searched settings suggested
by a seeded TPE sampler and every other flag given fixed for all trials. It reports the validation metric
(accuracy, or macro_f1 where train picks it) after each epoch, and the pruner stops weak trials early. Trials never
see the test split. --timeout stops starting new trials once it has passed; a trial that is running then finishes.
A trial whose settings train refuses (ConfigError) or whose loss goes NaN is recorded as failed and the study goes
on; anything wrong with the data stops it at once.

RUN holds study.db (the default storage), trials/, best_config.json (the best trial's settings, for
`textrnn train --config`), optimization_history.png and param_importances.png. Every finished trial is stored as
it ends: the same command again (or Ctrl-C, then again) continues the study.
"""

import hashlib
import json
import math
import re
import shlex
import warnings
from collections import Counter
from dataclasses import fields
from pathlib import Path

import optuna
import sqlalchemy.exc
from optuna.trial import TrialState

from ..errors import ConfigError, NonFiniteLossError, StudyError
from ..fileio import atomic_write_json
from ..model import POOLINGS
from .config import TrainConfig, flag_name
from .logs import RunLog, check_report_to, plural
from .inputs import read_data
from .train import train

# What each searched setting may be, around the defaults for the data (`defaults`: the resolved config): a search of
# minutes on a CPU gets a handful of trials, which a space of far-off settings (lr 1e-4, three layers, batches of 16)
# spends on losers. Categorical sizes keep the trials' models comparable and their names short.
SEARCH_SPACE = {
    "lr": lambda trial, defaults: trial.suggest_float("lr", defaults.lr / 3, defaults.lr * 3, log=True),
    "hidden_dim": lambda trial, defaults: trial.suggest_categorical("hidden_dim", [64, 128, 256]),
    "embedding_dim": lambda trial, defaults: trial.suggest_categorical("embedding_dim", [64, 128, 200, 300]),
    "dropout": lambda trial, defaults: trial.suggest_float("dropout", 0.1, 0.5),
    "word_dropout": lambda trial, defaults: trial.suggest_float("word_dropout", 0.0, 0.5),
    "num_layers": lambda trial, defaults: trial.suggest_int("num_layers", 1, 2),
    "cell": lambda trial, defaults: trial.suggest_categorical("cell", ["lstm", "gru"]),
    "pooling": lambda trial, defaults: trial.suggest_categorical("pooling", [*POOLINGS, "max+mean"]),
    "max_length": lambda trial, defaults: trial.suggest_categorical("max_length", [64, 128, 256, 512]),
    "batch_size": lambda trial, defaults: trial.suggest_categorical("batch_size", [32, 64, 128]),
    "ngrams": lambda trial, defaults: trial.suggest_categorical("ngrams", [0, 2]),
}
PRUNERS = ("median", "hyperband", "none")
TOP_TRIALS = 10  # rows of the results table


def parse_duration(text: str) -> float:
    """Seconds in '90', '90s', '20m' or '1.5h'."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*", text)
    if not match or float(match[1]) <= 0:
        raise ConfigError(f"--timeout {text!r}: give a positive duration in seconds (90, 90s), minutes (20m) or "
                          "hours (1.5h)")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


def search_space(search: str | None, fixed: dict) -> list[str]:
    """The settings to search: those named in --search, or by default all that no flag fixes."""
    if search is None:
        names = [name for name in SEARCH_SPACE if name not in fixed]
    else:
        names = [name.strip().replace("-", "_") for name in search.split(",") if name.strip()]
        unknown = [name for name in names if name not in SEARCH_SPACE]
        if unknown:
            raise ConfigError(f"--search: unknown {', '.join(map(repr, unknown))}; choose from "
                              f"{', '.join(SEARCH_SPACE)}")
        both = [name for name in names if name in fixed]
        if both:
            raise ConfigError(f"--search {', '.join(both)}: also fixed by {', '.join(map(flag_name, both))}; "
                              "leave out the flag or the name")
    if not names:
        raise ConfigError(f"the search space is empty: name settings to search with --search (from "
                          f"{', '.join(SEARCH_SPACE)}), and fix no more than the others by flags")
    return names


def make_pruner(pruner) -> optuna.pruners.BasePruner:
    """A pruner by name, or the one given (Python callers may pass any optuna pruner)."""
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    if pruner == "median":  # from the second trial on (the first is the defaults), and from a trial's epoch 2
        return optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=2)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    if pruner == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {pruner!r}: choose one of {', '.join(PRUNERS)}")


def data_identity(config: TrainConfig, given: set[str]) -> tuple[dict, TrainConfig]:
    """What a study's trials are comparable on: the data (labels, sizes, a digest of the train and validation texts
    and labels, whatever path it was read from) and the problem settings, the validation metric among them; and the
    config resolved for the data (its preset's settings). Reading the data here also stops a data error before any
    trial starts."""
    data, resolved, *_ = read_data(config, given, None, log=lambda *args, **kwargs: None)
    digest = hashlib.sha256()
    for split in (data.train, data.validation):
        digest.update(json.dumps([list(split["text"]), list(split["label"])]).encode("utf-8"))
    return {"labels": data.label_names, "problem_type": data.problem_type, "metric": resolved.metric,
            "train_texts": len(data.train), "validation_texts": len(data.validation),
            "sha256": digest.hexdigest()[:16]}, resolved


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's database storage at `url` (sqlite:///FILE, postgresql://..., mysql://...), or a StudyError."""
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise StudyError(f"--storage {url!r} is not a database URL (sqlite:///FILE, postgresql://USER@HOST/DB, "
                         "...)") from None
    shown, database = parsed.render_as_string(hide_password=True), parsed.database
    if parsed.drivername.startswith("sqlite") and database not in (None, "", ":memory:"):
        if not Path(database).parent.is_dir():  # not made here: a mistyped path would hide the study elsewhere
            raise StudyError(f"--storage {shown}: the directory {Path(database).parent} does not exist")
    try:
        with warnings.catch_warnings():  # heartbeats: a trial whose machine died is failed by the next trial to start
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    except ImportError as error:
        raise StudyError(f"cannot open --storage {shown}: its database driver is missing ({error}); install it "
                         "(psycopg2-binary for PostgreSQL, PyMySQL for MySQL)") from None
    except (sqlalchemy.exc.SQLAlchemyError, RuntimeError) as error:  # RuntimeError: a schema of another Optuna
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise StudyError(f"cannot open --storage {shown}: {reason}") from None


def load_study(storage, name: str, identity: dict, pruner, seed: int) -> optuna.Study:
    """The study `name`, created if new (with `identity` stored), or continued if it was made for the same data."""
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize", pruner=pruner,
                                load_if_exists=True)
    stored = study.user_attrs.get("identity")
    made_elsewhere = study.direction != optuna.study.StudyDirection.MAXIMIZE or any(
        trial.state.is_finished() for trial in study.trials)
    if stored is None and made_elsewhere:
        raise StudyError(f"the study {name!r} was not made by textrnn tune: give another --study-name")
    if stored is None:
        study.set_user_attr("identity", identity)
    elif stored != identity:
        changed = "; ".join(f"{key} {stored.get(key)!r} there, {value!r} here" for key, value in identity.items()
                            if stored.get(key) != value)
        raise StudyError(f"the study {name!r} was made for other data or problem settings ({changed}): give the "
                         "same data and settings, or start another study (--study-name, or another --output)")
    # TPE's first trials are random: seeded afresh per session, lest a continued study repeat its first trials
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials), n_startup_trials=5)
    return study


def enqueue_defaults(study: optuna.Study, defaults: TrainConfig, space: list[str], log=print) -> None:
    """What `textrnn train` gives without flags comes first: the trials after it must beat it. It is queued again
    until it has run: a study killed during that trial must not lose it to a trial left RUNNING forever."""
    runs = [trial for trial in study.trials if trial.user_attrs.get("defaults")]
    ran = any(trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or "error" in trial.user_attrs
              for trial in runs)  # an error: train refused these settings, and would again
    if (study.trials and not runs) or ran or any(trial.state == TrialState.WAITING for trial in runs):
        return  # a study made with trials of its own, or whose defaults have run or are queued
    study.enqueue_trial({name: getattr(defaults, name) for name in space}, user_attrs={"defaults": True})
    again = " again: the earlier run of it did not finish" if runs else ""
    log(f"trial {len(study.trials) - 1} is the defaults ({defaults.preset} preset){again}")


def describe_params(params: dict) -> str:
    return " ".join(f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"
                    for name, value in params.items())


def make_objective(fixed: dict, space: list[str], run: Path, metric: str, defaults: TrainConfig, log=None):
    """The objective of one trial: a training run with the trial's settings; its best validation metric."""
    log = log or RunLog()

    def objective(trial: optuna.Trial) -> float:
        # every trial trains the defaults' epochs unless --epochs says otherwise: the document preset's depend on
        # the batch size, which a trial may change, and scores of different lengths of training do not compare
        settings = {"epochs": defaults.epochs, **fixed, **{name: SEARCH_SPACE[name](trial, defaults) for name in space}}
        last_epoch = settings["epochs"]
        trial.set_user_attr("settings", settings)
        output = run / "trials" / f"{trial.number:04d}"
        log(f"trial {trial.number}: {describe_params(trial.params)} -> {output}")

        def report(epoch: int, row: dict) -> None:
            trial.report(row[f"valid_{metric}"], epoch)
            if epoch < last_epoch and trial.should_prune():  # after the last epoch there is nothing left to save
                raise optuna.TrialPruned(f"after epoch {epoch}: validation {metric} {row[f'valid_{metric}']:.4f}")

        try:
            config = TrainConfig(**settings, output=str(output), force=True)
            summary = train(config, given={*settings, "output", "force"}, on_epoch=report, final_evaluation=False)
        except (ConfigError, NonFiniteLossError) as error:  # these settings, not the data: the study goes on
            message = " ".join(str(error).split())
            trial.set_user_attr("error", message)
            log.warn(f"trial {trial.number} failed: {message}")
            return math.nan  # Optuna records a NaN as a failed trial
        if summary["interrupted"]:  # Ctrl-C stopped the run: stop the study (the trial counts as failed)
            raise KeyboardInterrupt
        trial.set_user_attr("epochs", summary["epochs_run"])
        return summary["best_valid"]

    return objective


def trial_epochs(trial) -> int:
    return trial.user_attrs.get("epochs", len(trial.intermediate_values))


def results_table(study: optuna.Study, metric: str) -> str:
    """The best trials, finished or pruned (at their last value), in fixed-width columns, and a count by state."""
    scored = [trial for trial in study.trials
              if trial.state in (TrialState.COMPLETE, TrialState.PRUNED) and trial.value is not None]
    best = sorted(scored, key=lambda trial: trial.value, reverse=True)[:TOP_TRIALS]
    lines = [f"{'trial':>6}  {metric:>8}  {'state':<8}  {'epochs':>6}  params"]
    lines += [f"{trial.number:>6}  {trial.value:>8.4f}  {trial.state.name:<8}  {trial_epochs(trial):>6}  "
              f"{describe_params(trial.params)}" for trial in best]
    counts = Counter(trial.state.name.lower() for trial in study.trials)
    lines.append(f"{plural(len(study.trials), 'trial')}: "
                 + ", ".join(f"{count} {state}" for state, count in counts.items()))
    return "\n".join(lines)


def train_command(settings: dict, output) -> str:
    """The `textrnn train` command line with these settings, shell-quoted."""
    words = ["textrnn", "train"]
    for spec in fields(TrainConfig):
        value = settings.get(spec.name)
        if spec.name not in settings or value is None or (spec.type is bool and value == spec.default):
            continue
        words += [flag_name(spec.name)] if spec.type is bool else [flag_name(spec.name), str(value)]
    return shlex.join([*words, "--output", str(output)])


def save_plots(study: optuna.Study, run: Path, log=print) -> None:
    """optimization_history.png, and param_importances.png once 2 trials or more have completed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    completed = sum(trial.state == TrialState.COMPLETE for trial in study.trials)
    wanted = {"optimization_history.png": plots.plot_optimization_history}
    if completed >= 2:
        wanted["param_importances.png"] = plots.plot_param_importances
    else:
        log(f"param_importances.png: skipped, it needs 2 or more completed trials ({completed} so far)")
    for name, plot in wanted.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                axes = plot(study)
            except (ValueError, RuntimeError) as error:  # importances of settings that never varied, say
                log(f"{name}: skipped ({error})")
                continue
        if name == "optimization_history.png" and completed < 2:
            explain_short_history(axes, study, completed)
        axes.figure.savefig(run / name, dpi=120, bbox_inches="tight")
        plt.close(axes.figure)


def explain_short_history(axes, study: optuna.Study, completed: int) -> None:
    """A history of one completed trial is one dot: say so on the plot, and give the dot its value."""
    for trial in study.trials:
        if trial.state == TrialState.COMPLETE:
            axes.annotate(f"trial {trial.number}: {trial.value:.4f}", (trial.number, trial.value),
                          textcoords="offset points", xytext=(8, 8))
    axes.set_xlim(-0.5, max(len(study.trials) - 0.5, 1.5))
    axes.text(0.5, 0.5, f"{plural(completed, 'completed trial')} so far: the history shows how the best value "
              "improves once there are 2 or more", transform=axes.transAxes, ha="center", va="center", wrap=True,
              fontsize=9, color="dimgrey", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "lightgrey"})


def report_results(study: optuna.Study, run: Path, metric: str, log=print) -> None:
    """The table, the best trial's settings as best_config.json and as a command line, and the plots."""
    log(results_table(study, metric))
    if not any(trial.state == TrialState.COMPLETE for trial in study.trials):
        log("no trial has completed yet: no best settings to write")
        return
    best = study.best_trial
    config_file = run / "best_config.json"
    atomic_write_json(config_file, best.user_attrs["settings"])
    log(f"best: trial {best.number}, validation {metric} {best.value:.4f}; its settings are in {config_file}. "
          f"Train it again with:\n    {train_command(best.user_attrs['settings'], run / 'best')}\n"
          f"or: {shlex.join(['textrnn', 'train', '--config', str(config_file), '--output', str(run / 'best')])}")
    save_plots(study, run, log)


def tune(fixed: dict, output, *, timeout: str | float | None = None, trials: int | None = None,
         search: str | None = None, storage: str | None = None, study_name: str = "textrnn",
         pruner="median") -> tuple[optuna.Study, bool]:
    """Search the settings in `search` (default: all not in `fixed`), the TrainConfig settings in `fixed` fixed for
    every trial, for `timeout` (seconds, or '20m') and/or `trials` new trials. Returns the study, and whether Ctrl-C
    stopped it."""
    if timeout is None and trials is None:
        raise ConfigError("give --timeout (20m, say), --trials N or both: how long to search")
    seconds = parse_duration(str(timeout)) if timeout is not None else None
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    space, pruner = search_space(search, fixed), make_pruner(pruner)
    log = RunLog(quiet=bool(fixed.get("quiet")))  # --quiet: the trials' logs and the search's own lines alike
    run = Path(output)
    config = TrainConfig(**fixed, output=str(run))
    check_report_to(config.report_to)  # once, not once per failed trial
    identity, defaults = data_identity(config, set(fixed))
    run.mkdir(parents=True, exist_ok=True)
    url = storage or f"sqlite:///{run / 'study.db'}"
    study = load_study(open_storage(url), study_name, identity, pruner, config.seed)
    metric = identity["metric"]
    log(f"study {study_name!r}: {plural(len(study.trials), 'earlier trial')}; searching {', '.join(space)} for "
          f"the best validation {metric}" + (f"; no new trial after {seconds:g}s" if seconds else "")
          + (f"; at most {plural(trials, 'trial')}" if trials else ""))
    enqueue_defaults(study, defaults, space, log)
    interrupted = False
    try:
        study.optimize(make_objective(fixed, space, run, metric, defaults, log), n_trials=trials, timeout=seconds,
                       gc_after_trial=True)
    except KeyboardInterrupt:
        interrupted = True
        log.warn("tune: interrupted; the finished trials are kept. The same command continues the study")
    report_results(study, run, metric, log)
    return study, interrupted
