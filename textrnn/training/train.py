"""Training: data in, a saved and evaluated model out.

    textrnn train --dataset ../shared/data/sst2 --output runs/sst2
    torchrun --nproc_per_node 2 -m textrnn train --dataset ../shared/data/sst2 --output runs/sst2  # DDP

A run's output directory:
    config.json, model.safetensors, tokenizer.json   the best model (by the validation metric)
    last/                                            the last epoch's model plus training_state.safetensors, the
                                                     latest checkpoint (epoch ends, --checkpoint-every, Ctrl-C)
    train_config.json, metrics.jsonl, training_curves.png
    pretrain_metrics.json, pretrain_curve.png        with --pretrain-epochs (last/pretrain_state.safetensors resumes it)
    eval_report.json, eval_report.md, confusion_matrix.png, roc_curve.png, errors.jsonl  on the test split

`train` is the list of stages: open (or resume) the run, read its inputs, build the model, pre-train if asked,
fine-tune, finish (the decision rule, then the report on the test split).
"""

import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch

from .. import checkpoint
from ..data import encode_texts
from ..evaluate import evaluate_texts, format_report_line
from ..figures import plot_pretraining
from ..errors import TextRNNError
from ..fileio import atomic_write_json
from ..inference import load
from ..label_lists import column_values
from ..model import RNNClassifier
from ..model_card import write_model_card
from .checkpoints import PRETRAIN_STATE_FILE, STATE_FILE
from .config import TrainConfig
from .distributed import Distributed, end_distributed, init_distributed
from .inputs import Inputs, init_embedding_table, read_inputs
from .linear import add_linear_model
from .logs import LoggedWorld, check_report_to
from .loop import FineTuning
from .optim import use_amp
from .pretrain import pretrain
from .rundir import RunLock, TrainingStopped, check_output, check_output_place, find_resume_dir, resumed_config


def train(config: TrainConfig, given: set[str] | None = None, on_epoch=None, final_evaluation: bool = True) -> dict:
    """Train, keep the best model by the validation metric, evaluate it on the test split. Returns a summary.

    given: the settings the user set explicitly (the command line knows them); by default, those that
    differ from TrainConfig's defaults. A resumed run refuses to change any of them it cannot.
    on_epoch(epoch, row): called on the main rank after each epoch's metrics.jsonl row is written (`textrnn tune`
    reports it to its trial); whatever it raises propagates. final_evaluation=False: no report on the test split
    (tune's trials choose on validation only).
    """
    if given is None:
        given = {spec.name for spec in fields(TrainConfig) if getattr(config, spec.name) != spec.default}
    world, device = init_distributed(config.device)
    world = LoggedWorld(world, quiet=config.quiet)
    try:
        run = open_run(config, given, world)
        world.run_log.quiet = run.config.quiet  # a resumed run's, saved or given now
        check_report_to(run.config.report_to)
        with RunLock(run.output, enabled=world.is_main):
            return run_stages(run, given, world, device, on_epoch, final_evaluation)
    finally:
        end_distributed()


def run_stages(run: "Run", given: set[str], world: Distributed, device, on_epoch, final_evaluation: bool) -> dict:
    torch.manual_seed(run.config.seed)
    inputs = read_inputs(run.config, given, run, world)
    fine_tuning, resumed = build(run, inputs, world, device)
    if run.config.pretrain_epochs and not resumed and pretrain_encoder(run, inputs, fine_tuning, world, device):
        return run.summary(best_epoch=0, best_valid=None, epochs_run=0, interrupted=True)
    interrupted = fine_tuning.fit(on_epoch)
    return finish(run, inputs, fine_tuning, interrupted, final_evaluation, world, device)


@dataclass
class Run:
    """One training run: its settings, its directory, and the checkpoint it resumes."""

    config: TrainConfig
    output: Path
    resume_dir: Path | None  # the checkpoint directory being resumed
    saved: dict | None  # that checkpoint's config.json
    earlier: list[Path]  # an earlier run's files in output, replaced once every input has been read
    started: float

    def summary(self, **values) -> dict:
        return {"output": str(self.output), **values, "seconds": time.time() - self.started}


def open_run(config: TrainConfig, given: set[str], world: Distributed) -> Run:
    """The run's directory and settings: a resumed run's saved settings win; only how and where it runs, and for how
    long, may change. A new run refuses an earlier one in its directory without --force."""
    output = Path(config.output)
    resume_dir = find_resume_dir(config.resume, output) if config.resume else None
    saved = checkpoint.read_config(resume_dir) if resume_dir else None
    if saved:
        if not isinstance(saved.get("training"), dict):
            raise TextRNNError(f"cannot resume from {resume_dir}: its {checkpoint.CONFIG_FILE} holds no training "
                               "settings (it was not written by textrnn train)")
        output = resume_dir.parent
        config = resumed_config(TrainConfig.from_dict(saved["training"]), config, given, output, world.log)
    check_output_place(output, config.dataset)
    earlier = check_output(output, config.force) if world.is_main and not resume_dir else []
    return Run(config, output, resume_dir, saved, earlier, time.time())


def build(run: Run, inputs: Inputs, world: Distributed, device: torch.device) -> tuple[FineTuning, bool]:
    """The model and its fine-tuning loop, resumed from the run's checkpoint when it holds one of fine-tuning (and
    whether it did); config.json and tokenizer.json written beside the weights to come."""
    run.config = config = inputs.config
    model = RNNClassifier(config.model_config(inputs.tokenizer.get_vocab_size(), len(inputs.data.label_names)))
    if world.is_main and not run.resume_dir:  # DistributedDataParallel copies rank 0's weights to the others
        init_embedding_table(model, config, inputs.train_set, inputs.vectors, world.log)
    run.config = config = replace(config, amp=use_amp(config.amp, device, model.config, world.log))
    model.to(device)
    world.log(describe_model(model, device, world))
    fine_tuning = FineTuning(model, inputs.task, inputs.train_set, inputs.valid_set, config, device, world, run.output)
    resumed = run.resume_dir is not None and fine_tuning.resume(run.resume_dir, run.saved["training"]["epochs"])
    if world.is_main:
        write_model_description(run, inputs, model)
    return fine_tuning, resumed


def describe_model(model: RNNClassifier, device: torch.device, world: Distributed) -> str:
    config = model.config
    bag = (f"a bag of 1- to {config.ngrams}-grams ({config.ngram_buckets:,} buckets x {config.ngram_dim}), "
           if config.ngrams else "")
    return (f"model: {config.num_layers}-layer {'bi' if config.bidirectional else ''}{config.cell} "
            f"{config.embedding_dim}/{config.hidden_dim}, {config.pooling} pooling, {bag}"
            f"{sum(p.numel() for p in model.parameters()):,} parameters; device {device}"
            + (f" x {world.world_size} processes" if world.world_size > 1 else ""))


def write_model_description(run: Run, inputs: Inputs, model: RNNClassifier) -> None:
    """train_config.json, and config.json and tokenizer.json in OUTPUT and OUTPUT/last: what the weights mean."""
    config, saved = run.config, run.saved
    atomic_write_json(run.output / "train_config.json", config.to_dict())
    extra = {"training": config.to_dict(), **inputs.data.label_format(),
             "tokenizer_choice": {**(inputs.tokenizer_choice or {}), "kind": config.tokenizer},
             **({"auto_choices": inputs.auto_choices} if inputs.auto_choices else {}),
             **({"pretraining": saved["pretraining"]} if saved and "pretraining" in saved else {})}
    for directory in (run.output, run.output / "last"):  # once: see checkpoint.write_model_description
        checkpoint.write_model_description(directory, model.config, inputs.tokenizer, config.tokenizer_config(),
                                           inputs.data.label_names, extra)


def pretrain_encoder(run: Run, inputs: Inputs, fine_tuning: FineTuning, world: Distributed, device) -> bool:
    """Language-model pre-training of the embedding and RNN; whether Ctrl-C stopped it."""
    config, unlabeled = run.config, inputs.unlabeled
    corpus = inputs.train_set
    if unlabeled:
        corpus = corpus.texts_only(encode_texts(unlabeled[0], inputs.tokenizer, config.tokenizer_config()))
    try:
        history = pretrain(fine_tuning.model, corpus, inputs.valid_set, config, device, world, world.log, run.output,
                           run.resume_dir, fine_tuning.progress_mode)
    except TrainingStopped:
        world.warn(f"stopped during pre-training; the checkpoint is in {run.output / 'last'}. Continue with:\n"
                   f"    textrnn train --resume --output {run.output}")
        return True
    if world.is_main:
        record_pretraining(run.output, history, len(corpus), unlabeled)
    return False


def record_pretraining(output: Path, history: list[dict], texts: int, unlabeled) -> None:
    """pretrain_metrics.json, pretrain_curve.png, and a summary in config.json that the report shows."""
    atomic_write_json(output / "pretrain_metrics.json", history)
    plot_pretraining(history, output / "pretrain_curve.png")
    summary = {"epochs": len(history), "texts": texts, "unlabeled": unlabeled[1] if unlabeled else None,
               "valid_perplexity": [round(row["valid_perplexity"], 2) for row in history], "curve": "pretrain_curve.png"}
    for directory in (output, output / "last"):
        checkpoint.update_config(directory, pretraining=summary)


# Without a test split the report is on the validation split, which also chose the best epoch (and a multi-label
# model's thresholds): its numbers flatter the model, and the log and eval_report.md say so.
ON_VALIDATION = "validation split (it also chose the best epoch: optimistic)"


def finish(run: Run, inputs: Inputs, fine_tuning: FineTuning, interrupted: bool, final_evaluation: bool,
           world: Distributed, device) -> dict:
    """The best model's decision rule tuned on validation, then its report on the test split (or validation),
    through the same code path as `textrnn evaluate`."""
    output, state = run.output, fine_tuning.state
    if world.is_main and (output / "last" / STATE_FILE).is_file():  # it supersedes pre-training's
        (output / "last" / PRETRAIN_STATE_FILE).unlink(missing_ok=True)
    world.barrier()
    summary = run.summary(best_epoch=state["best_epoch"], best_valid=state["best_metric"], epochs_run=state["epoch"],
                          interrupted=interrupted)
    if not world.is_main:
        return summary
    if state["best_epoch"] == 0:
        world.log("no epoch has finished: no model to evaluate yet")
        return summary
    summary["linear_model"] = fit_linear_model(output, inputs, run.config, world.log)
    tune_decision(output, inputs, run.config.batch_size * 4, device, world.log)
    if not final_evaluation:
        world.log(f"saved model to {output} in {summary['seconds'] / 60:.1f} min (no final evaluation)")
        return summary
    data = inputs.data
    split_name, split, about = ("test", data.test, "test split") if data.test is not None else \
        ("validation", data.validation, ON_VALIDATION)
    # the model just trained, as PyTorch runs it: an ONNX copy would cost an export and give the same scores
    report = evaluate_texts(load(output, device=device, engine="torch"), column_values(split, "text"),
                            column_values(split, "label"), output,
                            title=f"{output.name}: {about}")
    world.log(f"{about}, best epoch {state['best_epoch']}: {format_report_line(report)}")
    if data.test is None:
        world.log("    no test split: give --test-file (or data with a test split) for a fair estimate")
    write_model_card(output, report, split=split_name)
    world.log(f"saved model, report and model card (README.md) to {output} in {summary['seconds'] / 60:.1f} min")
    summary.update(split=split_name, report={k: v for k, v in report.items() if k not in ("errors", "roc_curve")})
    return summary


def read_network(directory: Path) -> RNNClassifier:
    """The best epoch's network from a run's directory, on the CPU, without any linear model a finished run
    added to it (a resumed run fits that again)."""
    config = checkpoint.read_config(directory)
    network_config = replace(checkpoint.read_model_config(directory, config), linear_ngrams=0, linear_buckets=1,
                             linear_features=1, linear_share=0.0)
    weights, _ = checkpoint.read_safetensors(directory / checkpoint.WEIGHTS_FILE)
    network = RNNClassifier(network_config, device="meta")
    network.load_state_dict({name: tensor for name, tensor in weights.items() if not name.startswith("linear")},
                            strict=True, assign=True)
    return network.eval()


def fit_linear_model(output: Path, inputs: Inputs, config: TrainConfig, log) -> dict | None:
    """With --linear-ngrams: the linear model beside the best network (linear.py), written into OUTPUT's
    model.safetensors and config.json; its summary, or None without one."""
    if not config.linear_ngrams:
        return None
    model, summary = add_linear_model(read_network(output), inputs.task, inputs.train_set, inputs.valid_set, config,
                                      log)
    checkpoint.write_weights(output, model)
    checkpoint.update_config(output, model=model.config.to_dict(), linear_model=summary)
    return summary


def tune_decision(output: Path, inputs: Inputs, batch_size: int, device, log) -> None:
    """On the validation split: the temperature that calibrates the best model's scores, then what its task tunes
    of the decision rule on the calibrated scores (a multi-label model's thresholds); both go to config.json."""
    texts, labels = (column_values(inputs.data.validation, name) for name in ("text", "label"))
    classifier = load(output, device=device, engine="torch")
    task, logits = classifier.task, classifier.logits(texts, batch_size)
    calibration = task.calibrate(logits, labels)
    log(task.describe_calibration(calibration))
    decision = task.tune_decision(lambda: task.probabilities(torch.from_numpy(logits)).numpy(), labels)
    checkpoint.update_config(output, **calibration, **decision)
    if decision:
        log(task.describe_decision(decision))
