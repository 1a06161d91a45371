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
"""

import math
import os
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from sklearn.metrics import f1_score
from tqdm import tqdm

from . import checkpoint, multilabel
from .batching import make_loader
from .config import TrainConfig
from .data import encode_split, encode_texts, load_splits, prepare_data, quiet_datasets, unlabeled_texts
from .errors import ConfigError, NonFiniteLossError
from .evaluate import evaluate_texts, format_report_line, plot_pretraining
from .fileio import atomic_write_json, remove_temporaries
from .inference import load, resolve_device
from .model import RNNClassifier
from .optim import (LossWatch, WeightAverage, amp_dtype, averaged, follow_schedule, make_optimizer, train_step,
                    use_amp, warmup_cosine)
from .pretrain import cooccurrence_vectors, pretrain
from .rundir import (Checkpoints, StopRequest, TrainingStopped, check_epochs, check_output, clear_output,
                     describe_position, find_resume_dir, resumed_config, stopped_early, write_history)
from .tokenizer import (choose_kind, load_tokenizer, read_word_vectors, save_tokenizer, train_tokenizer,
                        unknown_share, unknown_warning)

@dataclass
class Distributed:
    """Where this process stands in a torchrun job (rank 0 of 1 without one)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world_size > 1:
            dist.barrier()


def init_distributed(device_name: str) -> tuple[Distributed, torch.device]:
    world = Distributed(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")),
                        int(os.environ.get("WORLD_SIZE", "1")))
    device = resolve_device(device_name)
    if world.world_size > 1:
        if device.type == "cuda":
            device = torch.device("cuda", world.local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return world, device


def init_embedding_table(model: RNNClassifier, config: TrainConfig, train_set, vectors, log) -> None:
    """The starting embedding table: the rows found in the user's word vectors file (`vectors`: the vectors and
    the found mask), or co-occurrence vectors of the training texts, or else nn.Embedding's random start."""
    weight = model.embedding.weight
    if vectors is not None:
        vectors, found = vectors
        with torch.no_grad():
            weight[torch.from_numpy(found)] = torch.from_numpy(vectors[found])
        log(f"embeddings: {found.sum():,} of {len(found):,} vocabulary tokens ({found.mean():.1%}) found in "
            f"{config.embeddings}")
    elif config.embedding_init == "svd":
        started = time.time()
        table = cooccurrence_vectors(train_set, model.config.vocab_size, model.config.embedding_dim, seed=config.seed)
        with torch.no_grad():
            weight.copy_(torch.from_numpy(table))
        log(f"embeddings: from the training texts' co-occurrence counts (PPMI + SVD) in {time.time() - started:.1f}s")
    with torch.no_grad():
        weight[model.config.pad_id] = 0.0


def label_loss(logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None, reduction="mean"):
    """Cross-entropy over classes (labels: [batch] ids), or one sigmoid per label (labels: [batch, labels] 0/1)
    with weight as BCE's pos_weight; weight: None, or one value per class or label."""
    if labels.dim() == 2:
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels, pos_weight=weight, reduction="none")
        return loss.sum(dim=1).mean() if reduction == "mean" else loss.sum()
    return F.cross_entropy(logits.float(), labels, weight=weight, reduction=reduction)


def count_correct(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Texts whose prediction is right: the class, or every label at the 0.5 threshold (subset accuracy)."""
    if labels.dim() == 2:
        return ((logits > 0) == labels.bool()).all(dim=1).sum()
    return (logits.argmax(-1) == labels).sum()


def label_weights(config: TrainConfig, labels, device) -> torch.Tensor | None:
    """--class-weight balanced: n / (classes * count) per class; --pos-weight balanced: negatives / positives
    per label (1 for a label without positives). labels: [n] ids or [n, labels] 0/1."""
    if labels.ndim == 2 and config.pos_weight == "balanced":
        positives = labels.sum(axis=0)
        weight = np.where(positives > 0, (len(labels) - positives) / np.maximum(positives, 1), 1.0)
    elif labels.ndim == 1 and config.class_weight == "balanced":
        counts = np.bincount(labels, minlength=int(labels.max()) + 1)
        weight = np.where(counts > 0, len(labels) / (len(counts) * np.maximum(counts, 1)), 0.0)
    else:
        return None
    return torch.tensor(weight, dtype=torch.float32, device=device)


def run_epoch(model, loader, optimizer, scheduler, scaler, device, config: TrainConfig, show_progress: bool,
              epoch: int, watch: LossWatch, average: WeightAverage | None = None, done: int = 0,
              totals: list[float] | None = None, after_step=None, weight: torch.Tensor | None = None):
    """One pass over the training batches, from batch `done` on (a run resumed mid-epoch), with the running
    `totals` of the batches before it. after_step(steps done, totals) runs after every step (checkpoints).
    Returns (loss, accuracy), summed over every rank."""
    model.train()
    # loss sum, correct, examples; stays on the device: no syncs
    totals = torch.tensor(totals or [0.0, 0.0, 0.0], dtype=torch.float64, device=device)
    loader.batch_sampler.set_epoch(epoch, skip=done)
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not show_progress, dynamic_ncols=True,
               initial=done, total=len(loader))
    for step, batch in enumerate(bar, start=done + 1):
        ids = batch["ids"].to(device, non_blocking=True)  # [batch, seq]
        labels = batch["labels"].to(device, non_blocking=True)  # [batch], or [batch, labels] (multi-label)
        with torch.autocast(device.type, dtype=amp_dtype(device), enabled=config.amp):
            logits = model(ids, batch["lengths"])  # [batch, classes]
        loss = label_loss(logits, labels, weight)
        train_step(loss, model, optimizer, scheduler, scaler, config.clip, watch,
                   {"epoch": epoch, "step": step, "steps": len(loader), "lengths": batch["lengths"]}, average)
        totals[0] += loss.detach() * len(labels)
        totals[1] += count_correct(logits, labels)
        totals[2] += len(labels)  # a Python number: no host-to-device copy each step
        if show_progress and step % 20 == 0:
            bar.set_postfix(loss=f"{totals[0].item() / totals[2].item():.4f}")
        if after_step:
            after_step(step, totals)
    watch.check()
    if dist.is_initialized():
        dist.all_reduce(totals)
    loss_sum, correct, count = totals.tolist()
    return loss_sum / count, correct / count


@torch.inference_mode()
def validate(model, loader, device, amp: bool, num_classes: int, weight: torch.Tensor | None = None) -> dict:
    """Loss, accuracy and macro-F1 on the validation batches; for multi-label data, at the per-label thresholds
    tuned on these very texts (as the saved model will use them), with accuracy the share of texts whose
    labels are all right."""
    model.eval()
    loss, outputs, targets = 0.0, [], []
    for batch in loader:
        labels = batch["labels"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype(device), enabled=amp):
            logits = model(batch["ids"].to(device, non_blocking=True), batch["lengths"]).float()
        loss += label_loss(logits, labels, weight, reduction="sum")
        outputs.append(torch.sigmoid(logits) if labels.dim() == 2 else logits.argmax(-1))
        targets.append(labels)
    outputs, targets = torch.cat(outputs).cpu().numpy(), torch.cat(targets).cpu().numpy()
    if targets.ndim == 2:
        thresholds, _ = multilabel.tune_thresholds(targets, outputs)
        metrics = multilabel.multi_label_metrics(targets, multilabel.predict(outputs, thresholds), range(num_classes))
        accuracy, macro_f1 = metrics["subset_accuracy"], metrics["macro_f1"]
    else:
        accuracy = float((outputs == targets).mean())
        macro_f1 = float(f1_score(targets, outputs, average="macro", labels=range(num_classes), zero_division=0))
    return {"loss": float(loss) / len(targets), "accuracy": accuracy, "macro_f1": macro_f1}


def save_thresholds(output: Path, data, batch_size: int, device, log) -> None:
    """Tune the saved best model's per-label thresholds on the validation split and write them to its config.json."""
    classifier = load(output, device=device)
    probs = classifier.predict_proba(data.validation["text"], batch_size=batch_size)
    targets = multilabel.multi_hot(data.validation["label"], len(data.label_names))
    thresholds, global_threshold = multilabel.tune_thresholds(targets, probs)
    checkpoint.update_config(output, thresholds=thresholds, global_threshold=global_threshold)
    log(f"thresholds: tuned per label on the validation split for F1 (from {min(thresholds):.2f} to "
        f"{max(thresholds):.2f}; {global_threshold:.2f} for labels with under {multilabel.MIN_TUNING_POSITIVES} "
        "validation positives)")


def record_pretraining(output: Path, history: list[dict], texts: int, unlabeled) -> None:
    """pretrain_metrics.json, pretrain_curve.png, and a summary in config.json that the report shows."""
    atomic_write_json(output / "pretrain_metrics.json", history)
    plot_pretraining(history, output / "pretrain_curve.png")
    summary = {"epochs": len(history), "texts": texts, "unlabeled": unlabeled[1] if unlabeled else None,
               "valid_perplexity": [round(row["valid_perplexity"], 2) for row in history], "curve": "pretrain_curve.png"}
    for directory in (output, output / "last"):
        checkpoint.update_config(directory, pretraining=summary)


def read_data(config: TrainConfig, given: set[str], saved: dict | None, log):
    """The data as the config asks, checked against the settings that depend on its shape, and the config resolved
    for it (tokenizer, preset). Returns (data, config, how the tokenizer was chosen, unlabelled texts for
    pre-training and where they come from, or None)."""
    quiet_datasets()
    raw = load_splits(config.dataset, config.train_file, config.validation_file, config.test_file)
    data = prepare_data(raw, config.text_column, config.label_column, saved["labels"] if saved else None,
                        config.validation_size, config.seed, problem_type=config.problem_type,
                        label_separator=config.label_separator, label_columns=config.label_column_list)
    if "validation_size" in given and not data.held_out:
        raise ConfigError("--validation-size holds out a share of train when the data has no validation split, "
                          "and this data has one; leave the flag out, or give only --train-file")
    if data.problem_type == "multi" and config.class_weight != "none":
        raise ConfigError("--class-weight weights the classes of single-label data; for multi-label data use "
                          "--pos-weight balanced")
    if data.problem_type == "single" and config.pos_weight == "balanced":
        raise ConfigError("--pos-weight weights each label's positives in multi-label data; for single-label data "
                          "use --class-weight balanced")
    if config.pos_weight == "auto":  # balanced gained 1.5 points of validation macro-F1 on GoEmotions (RESULTS.md)
        config = replace(config, pos_weight="balanced" if data.problem_type == "multi" else "none")
    if (data.problem_type == "multi" or config.class_weight == "balanced") and "metric" not in given and not saved:
        # Accuracy would favour the epoch that ignores rare classes, the very thing the weights are there to stop,
        # and the accuracy of a whole label set is rarely the goal.
        config = replace(config, metric="macro_f1")
    tokenizer_choice = saved.get("tokenizer_choice") if saved else None
    if not config.is_resolved:
        chosen = "chosen by the texts' length" if config.preset == "auto" else "as asked"
        tokenizer_choice = {"asked": config.tokenizer, "reason": "as asked"}
        if config.tokenizer == "auto":
            kind, tokenizer_choice["reason"] = choose_kind(data.train["text"])
            config = replace(config, tokenizer=kind)
        config = config.resolve(data.train["text"])
        log(f"preset: {config.preset} ({chosen})")
        log(f"tokenizer: {config.tokenizer} ({tokenizer_choice['reason']})")
    unlabeled = unlabeled_texts(raw, config.unlabeled, data.text_column) if config.pretrain_epochs else None
    if unlabeled:
        log(f"pre-training: on the training texts and the {len(unlabeled[0]):,} texts of {unlabeled[1]} "
            f"(--unlabeled {config.unlabeled}; never used for accuracy)")
    return data, config, tokenizer_choice, unlabeled


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
    try:
        return _train(config, given, world, device, on_epoch, final_evaluation)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _train(config: TrainConfig, given: set[str], world: Distributed, device: torch.device, on_epoch=None,
           final_evaluation: bool = True) -> dict:
    log = print if world.is_main else (lambda *args, **kwargs: None)
    output = Path(config.output)
    resume_dir = find_resume_dir(config.resume, output) if config.resume else None
    saved = checkpoint.read_config(resume_dir) if resume_dir else None
    if saved:  # the saved settings win; only how and where it runs, and for how long, may change
        output = resume_dir.parent
        config = resumed_config(TrainConfig.from_dict(saved["training"]), config, given, output, log)
    earlier_run = check_output(output, config.force) if world.is_main and not resume_dir else []
    torch.manual_seed(config.seed)
    started = time.time()

    # data and tokenizer ---------------------------------------------------------------------------------
    data, config, tokenizer_choice, unlabeled = read_data(config, given, saved, log)
    tokenizer_config = config.tokenizer_config()
    tokenizer_path = (resume_dir or output) / checkpoint.TOKENIZER_FILE
    vectors = None
    if world.is_main and not resume_dir:
        tokenizer = train_tokenizer(data.train["text"], tokenizer_config, num_texts=len(data.train))
        if config.embeddings:
            vectors = read_word_vectors(config.embeddings, tokenizer.get_vocab(), config.embedding_dim)
        clear_output(output, earlier_run)  # only now that every input has been read: an error in one loses nothing
        save_tokenizer(tokenizer, tokenizer_path)
    if world.is_main and resume_dir:
        for directory in (output, resume_dir):
            remove_temporaries(directory)  # left by writes that a kill cut short
    world.barrier()  # every rank uses rank 0's vocabulary
    tokenizer = load_tokenizer(tokenizer_path)
    train_set = encode_split(data.train, tokenizer, tokenizer_config)
    valid_set = encode_split(data.validation, tokenizer, tokenizer_config)
    log(f"data: {len(train_set):,} train, {len(valid_set):,} validation"
        f"{f' (held out: {config.validation_size:.0%} of train)' if data.held_out else ''}, "
        f"{len(data.test) if data.test is not None else 'no'} test texts; columns {data.text_column!r} -> "
        f"{data.label_column or data.label_columns!r}; {'multi-label: ' if data.problem_type == 'multi' else ''}"
        f"labels {data.label_names}")
    log(f"tokenizer: {config.tokenizer}, {tokenizer.get_vocab_size():,} tokens, "
        f"mean length {train_set.lengths.mean():.1f} (max {config.max_length}); "
        f"{unknown_share(valid_set.ids):.1%} of the validation tokens are [UNK]")
    if warning := unknown_warning(unknown_share(valid_set.ids), config.tokenizer, data.validation["text"]):
        log(warning)
    pin = device.type == "cuda"
    train_loader = make_loader(train_set, config.batch_size, shuffle=True, seed=config.seed,
                               num_replicas=world.world_size, rank=world.rank, pin_memory=pin)
    valid_loader = make_loader(valid_set, config.batch_size * 4, shuffle=False, pin_memory=pin)
    weight = label_weights(config, train_set.labels, device)

    # model and optimiser --------------------------------------------------------------------------------
    model = RNNClassifier(config.model_config(tokenizer.get_vocab_size(), len(data.label_names)))
    if world.is_main and not resume_dir:  # DistributedDataParallel copies rank 0's weights to the others
        init_embedding_table(model, config, train_set, vectors, log)
    config = replace(config, amp=use_amp(config.amp, device, model.config, log))
    model.to(device)
    log(f"model: {model.config.num_layers}-layer {'bi' if model.config.bidirectional else ''}{model.config.cell} "
        f"{model.config.embedding_dim}/{model.config.hidden_dim}, {model.config.pooling} pooling, "
        + (f"a bag of 1- to {model.config.ngrams}-grams ({model.config.ngram_buckets:,} buckets x "
           f"{model.config.ngram_dim}), " if model.config.ngrams else "")
        + f"{sum(p.numel() for p in model.parameters()):,} parameters; device {device}"
        + (f" x {world.world_size} processes" if world.world_size > 1 else ""))
    optimizer = make_optimizer(model.parameters(), config.lr, config.weight_decay)
    total_steps = len(train_loader) * config.epochs
    schedule = warmup_cosine(total_steps, int(config.warmup * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp and amp_dtype(device) == torch.float16)
    watch = LossWatch(LossWatch.CUDA_CHECK_EVERY if device.type == "cuda" else 1)
    average = WeightAverage(model, config.average_decay) if config.average_decay else None
    checkpoints = Checkpoints(output, model, optimizer, scheduler, scaler, average, watch, config.checkpoint_every,
                              enabled=world.is_main)
    state = {"epoch": 0, "best_metric": -math.inf, "best_epoch": 0, "history": []}
    fine_tuning_resumed = resume_dir is not None and (resume_dir / checkpoint.STATE_FILE).is_file()
    if fine_tuning_resumed:
        state = checkpoint.load_training_state(resume_dir, model, optimizer, scheduler, scaler, average)
        check_epochs(state, config.epochs)
        if config.epochs != saved["training"]["epochs"]:
            follow_schedule(optimizer, scheduler)  # the schedule now spans the new number of epochs
        checkpoints.position = describe_position(state)
        log(f"resumed from {resume_dir} {checkpoints.position}")
    if world.is_main:
        atomic_write_json(output / "train_config.json", config.to_dict())
        model_extra = {"training": config.to_dict(), **data.label_format(),
                       "tokenizer_choice": {**(tokenizer_choice or {}), "kind": config.tokenizer},
                       **({"pretraining": saved["pretraining"]} if saved and "pretraining" in saved else {})}
        for directory in (output, output / "last"):  # once: see checkpoint.write_model_description
            checkpoint.write_model_description(directory, model.config, tokenizer, tokenizer_config,
                                               data.label_names, model_extra)
    show_progress = config.progress and world.is_main and sys.stderr.isatty()
    if config.pretrain_epochs and not fine_tuning_resumed:
        corpus = train_set.texts_only(encode_texts(unlabeled[0], tokenizer, tokenizer_config)) if unlabeled else train_set
        try:
            history = pretrain(model, corpus, valid_set, config, device, world, log, output, resume_dir, show_progress)
        except TrainingStopped:
            log(f"stopped during pre-training; the checkpoint is in {output / 'last'}. Continue with:\n"
                f"    textrnn train --resume --output {output}")
            return {"output": str(output), "best_epoch": 0, "best_valid": None, "epochs_run": 0, "interrupted": True,
                    "seconds": time.time() - started}
        if world.is_main:
            record_pretraining(output, history, len(corpus), unlabeled)
    trained_model = model
    if world.world_size > 1:
        trained_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if pin else None)
    if world.is_main and resume_dir:
        write_history(output, state["history"])  # as saved with the state, even if the killed run wrote more

    # the loop -------------------------------------------------------------------------------------------
    interrupted = False
    with StopRequest(enabled=world.world_size == 1) as stop:

        def after_step(step: int, totals: torch.Tensor) -> None:
            if stop.requested or checkpoints.due():
                checkpoints.save_state({**state, "step": step, "epoch_totals": totals.tolist()})
            if stop.requested:
                raise TrainingStopped

        try:
            last_epoch = config.epochs
            if stopped_early(state, config.patience):  # a resumed run that had ended early stays ended
                last_epoch = state["epoch"]
                log(f"early stop: the run had stopped after epoch {state['epoch']}, {config.patience} epochs without "
                    f"a better validation {config.metric}; a larger --patience trains on")
            for epoch in range(state["epoch"] + 1, last_epoch + 1):
                epoch_started = time.time()
                train_loss, train_accuracy = run_epoch(
                    trained_model, train_loader, optimizer, scheduler, scaler, device, config, show_progress, epoch,
                    watch, average, done=state.pop("step", 0), totals=state.pop("epoch_totals", None),
                    after_step=after_step, weight=weight)
                with averaged(average):
                    valid = validate(model, valid_loader, device, config.amp, len(data.label_names), weight)
                improved = valid[config.metric] > state["best_metric"]
                if improved:
                    state.update(best_metric=valid[config.metric], best_epoch=epoch)
                row = {"epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy,
                       "valid_loss": valid["loss"], "valid_accuracy": valid["accuracy"],
                       "valid_macro_f1": valid["macro_f1"], "lr": scheduler.get_last_lr()[0],
                       "seconds": time.time() - epoch_started}
                state["history"].append(row)
                state["epoch"] = epoch
                checkpoints.save_epoch(state, improved)
                if world.is_main:
                    write_history(output, state["history"])
                log(f"| epoch {epoch:3d} | {row['seconds']:6.1f}s | train loss {train_loss:.4f} "
                    f"acc {train_accuracy:6.2%} | valid loss {valid['loss']:.4f} acc {valid['accuracy']:6.2%} "
                    f"f1 {valid['macro_f1']:6.2%} | lr {row['lr']:.2e} |{' best' if improved else ''}")
                if on_epoch and world.is_main:
                    on_epoch(epoch, row)
                if epoch - state["best_epoch"] >= config.patience:
                    log(f"early stop: no better validation {config.metric} for {config.patience} epochs")
                    break
                if stop.requested:
                    raise TrainingStopped
        except TrainingStopped:
            interrupted = True
            log(f"stopped {checkpoints.position}; the checkpoint is in {output / 'last'}. Continue with:\n"
                f"    textrnn train --resume --output {output}")
        except NonFiniteLossError as error:
            raise NonFiniteLossError(f"{error}; training stopped and {checkpoints.describe_last()}. "
                                     "A lower --lr or --clip may help") from None
    if world.is_main and (output / "last" / checkpoint.STATE_FILE).is_file():  # it supersedes pre-training's
        (output / "last" / checkpoint.PRETRAIN_STATE_FILE).unlink(missing_ok=True)
    world.barrier()

    # final evaluation, through the same code path as `textrnn evaluate` -----------------------------------
    summary = {"output": str(output), "best_epoch": state["best_epoch"], "best_valid": state["best_metric"],
               "epochs_run": state["epoch"], "seconds": time.time() - started, "interrupted": interrupted}
    if not world.is_main:
        return summary
    if state["best_epoch"] == 0:
        log("no epoch has finished: no model to evaluate yet")
        return summary
    if data.problem_type == "multi":
        save_thresholds(output, data, config.batch_size * 4, device, log)
    if not final_evaluation:
        log(f"saved model to {output} in {summary['seconds'] / 60:.1f} min (no final evaluation)")
        return summary
    split_name, split = ("test", data.test) if data.test is not None else ("validation", data.validation)
    classifier = load(output, device=device)
    report = evaluate_texts(classifier, split["text"], split["label"], output,
                            title=f"{output.name}: {split_name} split")
    log(f"{split_name} split, best epoch {state['best_epoch']}: {format_report_line(report)}")
    log(f"saved model and report to {output} in {summary['seconds'] / 60:.1f} min")
    summary.update(split=split_name, report={k: v for k, v in report.items() if k not in ("errors", "roc_curve")})
    return summary
