"""Speed: textrnn against a tutorial-style PyTorch pipeline, side by side in one run, on IMDB.

    .venv/bin/python scripts/benchmark_speed.py                   # CPU; writes docs/BENCHMARKS.md
    .venv/bin/python scripts/benchmark_speed.py --device cuda     # a GPU: adds AMP and larger batches
    .venv/bin/python scripts/benchmark_speed.py --quick           # a smoke test on 2,000 texts; writes nothing

The reference is written here the way the popular PyTorch sentiment tutorials do it: a Python regex
tokenizer, a Counter vocabulary, shuffled random batches, embedding + BiLSTM over
`pack_padded_sequence(enforce_sorted=False)`, final hidden states into a linear layer, Adam. Both
sides read the same texts (textrnn's train/validation split of IMDB train, and the test split) with the
same vocabulary size, maximum length, embedding and hidden sizes and batch size, for one epoch each;
the table shows both test accuracies after that epoch, so no speed is bought with accuracy.
"""

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

from textrnn import classify_text, load
from textrnn.training.config import TrainConfig
from textrnn.data import encode_split, load_splits, prepare_data, quiet_datasets
from textrnn.tokenizer import encode_batch, train_tokenizer
from textrnn.training.train import train

from common import describe_machine, latencies, produced_by, publish

ROOT = Path(__file__).resolve().parent.parent
SHORT_SENTENCE = "a gorgeous, witty and moving film"

# ----------------------------------------------------------------------------- the reference pipeline

LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
WORD = re.compile(r"\w+|[^\w\s]")
PAD, UNK = 0, 1


def reference_tokenize(text: str) -> list[str]:
    return WORD.findall(LINE_BREAK.sub(" ", text.lower()))


def reference_vocabulary(token_lists, max_size: int, min_freq: int) -> dict[str, int]:
    counts = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    kept = [word for word, count in counts.most_common(max_size - 2) if count >= min_freq]
    return {word: index for index, word in enumerate(kept, start=2)}


def reference_numericalize(tokens: list[str], vocab: dict[str, int], max_length: int) -> list[int]:
    return [vocab.get(token, UNK) for token in tokens[:max_length]] or [UNK]


class ReferenceLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_dim, num_classes, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * hidden_dim, num_classes)

    def forward(self, ids, lengths):
        embedded = self.dropout(self.embedding(ids))  # [batch, seq, emb]
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)  # hidden: [2, batch, hidden]
        return self.fc(self.dropout(torch.cat([hidden[-2], hidden[-1]], dim=-1)))


def reference_batches(sequences, labels, batch_size, shuffle, seed=0):
    order = np.random.default_rng(seed).permutation(len(sequences)) if shuffle else np.arange(len(sequences))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids = pad_sequence([torch.tensor(sequences[i]) for i in rows], batch_first=True, padding_value=PAD)
        yield ids, torch.tensor([len(sequences[i]) for i in rows]), torch.tensor([labels[i] for i in rows])


def reference_predict(model, sequences, batch_size, device) -> np.ndarray:
    model.eval()
    predictions = []
    with torch.no_grad():
        for ids, lengths, _ in reference_batches(sequences, [0] * len(sequences), batch_size, shuffle=False):
            predictions.append(model(ids.to(device), lengths).argmax(-1).cpu())
    return torch.cat(predictions).numpy()


def run_reference(data, config: TrainConfig, device) -> dict:
    """Tokenise, build the vocabulary, train one epoch, evaluate: the tutorial way, each step timed."""
    result = {}
    started = time.perf_counter()
    train_tokens = [reference_tokenize(text) for text in data.train["text"]]
    tokenized = time.perf_counter()
    vocab = reference_vocabulary(train_tokens, config.vocab_size, config.min_freq)
    counted = time.perf_counter()
    train_ids = [reference_numericalize(tokens, vocab, config.max_length) for tokens in train_tokens]
    result["encode_s"] = (tokenized - started) + (time.perf_counter() - counted)
    result["vocabulary_s"] = counted - tokenized
    result["raw_tokens"] = sum(map(len, train_tokens))
    valid_ids = [reference_numericalize(reference_tokenize(t), vocab, config.max_length) for t in data.validation["text"]]

    torch.manual_seed(config.seed)
    model = ReferenceLSTM(len(vocab) + 2, config.embedding_dim, config.hidden_dim, len(data.label_names),
                          config.dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    started = time.perf_counter()
    for ids, lengths, labels in reference_batches(train_ids, data.train["label"], config.batch_size, shuffle=True):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(ids.to(device), lengths), labels.to(device))
        loss.backward()
        optimizer.step()
    reference_predict(model, valid_ids, config.batch_size, device)  # the epoch's validation pass, as textrnn's
    result["epoch_s"] = time.perf_counter() - started
    result["train_tokens"] = sum(map(len, train_ids))

    started = time.perf_counter()  # the evaluation loop, from raw text
    test_ids = [reference_numericalize(reference_tokenize(t), vocab, config.max_length) for t in data.test["text"]]
    predictions = reference_predict(model, test_ids, 256, device)
    result["predict_s"] = time.perf_counter() - started
    result["accuracy"] = float((predictions == np.asarray(data.test["label"])).mean())

    def classify_one():
        ids = torch.tensor([reference_numericalize(reference_tokenize(SHORT_SENTENCE), vocab, config.max_length)])
        model.eval()
        with torch.no_grad():
            return torch.softmax(model(ids.to(device), torch.tensor([ids.size(1)])), -1).cpu()

    result["latency"] = latencies(classify_one)
    return result


# ----------------------------------------------------------------------------- textrnn


def measure_encoding(data, config: TrainConfig) -> dict:
    """textrnn's tokenizer: learning the vocabulary, encoding the training texts, and reading them cached."""
    started = time.perf_counter()
    tokenizer = train_tokenizer(data.train["text"], config.tokenizer_config(), num_texts=len(data.train))
    learnt = time.perf_counter()
    encode_batch(tokenizer, data.train["text"], config.tokenizer_config())
    result = {"vocabulary_s": learnt - started, "encode_s": time.perf_counter() - learnt}
    untruncated = Tokenizer.from_str(tokenizer.to_str())  # tokens read before truncation: the rate's unit
    untruncated.no_truncation()
    result["raw_tokens"] = sum(len(e.ids) for e in untruncated.encode_batch_fast(data.train["text"]))
    encode_split(data.train, tokenizer, config.tokenizer_config(), data.task)  # fills the datasets cache if it is empty
    started = time.perf_counter()
    encode_split(data.train, tokenizer, config.tokenizer_config(), data.task)
    result["cached_encode_s"] = time.perf_counter() - started
    return result


def run_textrnn(data, config: TrainConfig, device, with_inference: bool = True) -> dict:
    """One epoch through `train` (textrnn's own code path), then inference through `classify_text`."""
    summary = train(config)
    history = [json.loads(line) for line in (Path(config.output) / "metrics.jsonl").read_text().splitlines()]
    settings = json.loads((Path(config.output) / "train_config.json").read_text())
    classifier = load(config.output, device=device)
    sequences = encode_batch(classifier.tokenizer, data.train["text"], classifier.tokenizer_config)
    result = {"epoch_s": history[0]["seconds"], "accuracy": summary["report"]["accuracy"],
              "train_tokens": sum(map(len, sequences)), "settings": settings}
    if with_inference:
        started = time.perf_counter()
        classifier.predict_proba(data.test["text"])
        result["predict_s"] = time.perf_counter() - started
        result["latency"] = latencies(lambda: classify_text(SHORT_SENTENCE, classifier))
    return result


# ----------------------------------------------------------------------------- the floor on a GPU


def epoch_floor(lengths: np.ndarray, batch_size: int, embedding_dim: int, hidden_dim: int) -> dict:
    """FLOPs of one BiLSTM epoch (forward + backward) and its sequential steps with length-bucketed batches."""
    gates = 4 * hidden_dim
    per_token = 2 * 2 * gates * (embedding_dim + hidden_dim)  # 2 directions x multiply-add x gate matmuls
    flops = 3 * per_token * int(lengths.sum())  # the backward pass costs about twice the forward
    ordered = np.sort(lengths)  # bucketed batches hold similar lengths: each costs its longest text's steps
    steps = sum(int(ordered[min(i + batch_size, len(ordered)) - 1]) for i in range(0, len(ordered), batch_size))
    return {"flops": flops, "sequential_steps": 2 * steps}  # the backward pass walks every step again


# ----------------------------------------------------------------------------- the table


def ratio(ours: float, reference: float) -> str:
    return f"{ours / reference:.2f}x"


def table(reference: dict, encoding: dict, ours: dict, variants: list[tuple[str, dict]], test_texts: int) -> list[str]:
    ref_encode = reference["raw_tokens"] / reference["encode_s"]
    our_encode = encoding["raw_tokens"] / encoding["encode_s"]
    ref_train = reference["train_tokens"] / reference["epoch_s"]
    our_train = ours["train_tokens"] / ours["epoch_s"]
    ref_docs, our_docs = test_texts / reference["predict_s"], test_texts / ours["predict_s"]
    rows = [
        ("tokenise + numericalise the training texts (tokens/s)", f"{ref_encode / 1e6:.2f}M", f"{our_encode / 1e6:.2f}M",
         ratio(our_encode, ref_encode)),
        ("the same, the second time (s)", f"{reference['encode_s']:.2f} (computed again)",
         f"{encoding['cached_encode_s']:.2f} (datasets cache)", ratio(reference["encode_s"], encoding["cached_encode_s"])),
        ("learn the vocabulary (s)", f"{reference['vocabulary_s']:.2f}", f"{encoding['vocabulary_s']:.2f}",
         ratio(reference["vocabulary_s"], encoding["vocabulary_s"])),
        ("one training epoch with its validation pass (s)", f"{reference['epoch_s']:.1f}", f"{ours['epoch_s']:.1f}",
         ratio(reference["epoch_s"], ours["epoch_s"])),
        ("training throughput (real tokens/s)", f"{ref_train / 1e3:.1f}k", f"{our_train / 1e3:.1f}k",
         ratio(our_train, ref_train)),
        ("test accuracy after that epoch", f"{reference['accuracy']:.2%}", f"{ours['accuracy']:.2%}", ""),
        ("inference on the test reviews from raw text (docs/s)", f"{ref_docs:.0f}", f"{our_docs:.0f}",
         ratio(our_docs, ref_docs)),
        ("classify one short sentence, p50 (ms)", f"{reference['latency']['p50_ms']:.2f}",
         f"{ours['latency']['p50_ms']:.2f}", ratio(reference["latency"]["p50_ms"], ours["latency"]["p50_ms"])),
        ("classify one short sentence, p99 (ms)", f"{reference['latency']['p99_ms']:.2f}",
         f"{ours['latency']['p99_ms']:.2f}", ratio(reference["latency"]["p99_ms"], ours["latency"]["p99_ms"])),
    ]
    for name, variant in variants:
        throughput = variant["train_tokens"] / variant["epoch_s"]
        rows.append((f"textrnn {name}: epoch (s), tokens/s, accuracy", "",
                     f"{variant['epoch_s']:.1f} s, {throughput / 1e3:.1f}k/s, {variant['accuracy']:.2%}",
                     ratio(throughput, ref_train)))
    return ["| measure | tutorial reference | textrnn | textrnn's gain |", "|---|---:|---:|---:|",
            *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="2,000 training and 1,000 test texts; writes nothing")
    parser.add_argument("--output", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    quiet_datasets()
    device = torch.device(args.device)
    raw = load_splits(args.data)
    # The model sizes, length and batch size of textrnn's defaults for these texts, shared by both sides.
    base = TrainConfig(dataset=args.data, force=True, epochs=1, device=args.device, progress=False)
    data = prepare_data(raw, validation_size=base.validation_size, seed=base.seed)
    if args.quick:
        data.train, data.test = data.train.shuffle(seed=0).select(range(2000)), data.test.shuffle(seed=0).select(range(1000))
    config = base.resolve(data.train["text"])
    print(f"machine: {describe_machine(device)}")
    print(f"data: {len(data.train):,} train, {len(data.validation):,} validation, {len(data.test):,} test texts; "
          f"preset {config.preset}: BiLSTM {config.embedding_dim}/{config.hidden_dim}, batch {config.batch_size}, "
          f"max length {config.max_length}")

    encoding = measure_encoding(data, config)
    print(f"textrnn encoding: {encoding}")
    reference = run_reference(data, config, device)
    print(f"reference: {reference}")
    runs = Path("/tmp/textrnn-benchmark-speed")
    if args.quick:  # train on the same small slice the reference saw
        (runs / "data").mkdir(parents=True, exist_ok=True)
        for split in ("train", "validation", "test"):
            getattr(data, split).to_parquet(str(runs / "data" / f"{split}.parquet"))
        config = replace(config, dataset=str(runs / "data"))
    ours = run_textrnn(data, replace(config, output=str(runs / "default")), device)
    print(f"textrnn: { {k: v for k, v in ours.items() if k != 'settings'} }")
    variants = [("--amp (bfloat16 on the CPU)" if device.type == "cpu" else "--amp (float16)",
                 run_textrnn(data, replace(config, amp=True, output=str(runs / "amp")), device, with_inference=False))]
    if device.type == "cuda":
        for batch_size in (128, 256):
            variants.append((f"--amp --batch-size {batch_size}", run_textrnn(
                data, replace(config, amp=True, batch_size=batch_size, output=str(runs / f"amp{batch_size}")), device,
                with_inference=False)))

    lengths = np.asarray([min(n, config.max_length) for n in map(len, encode_batch(
        load(runs / "default").tokenizer, data.train["text"]))])
    floor = epoch_floor(lengths, config.batch_size, config.embedding_dim, config.hidden_dim)
    floor_256 = epoch_floor(lengths, config.batch_size, 256, 256)
    command = "python scripts/benchmark_speed.py" + (f" --device {args.device}" if args.device != "cpu" else "")
    lines = [
        f"{produced_by(command)}.", "",
        f"- Machine: {describe_machine(device)}.",
        f"- Data: IMDB, {len(data.train):,} training reviews (textrnn's split of the 25,000; the other "
        f"{len(data.validation):,} are the validation pass), {len(data.test):,} test reviews.",
        f"- Both sides: vocabulary {config.vocab_size:,}, minimum frequency {config.min_freq}, {config.max_length} "
        f"tokens kept, BiLSTM {config.embedding_dim}/{config.hidden_dim}, batch {config.batch_size}, one epoch, "
        f"seed {config.seed}. textrnn runs its defaults for these texts (preset `{config.preset}`: "
        f"{config.truncation} truncation, {config.pooling} pooling, word dropout {config.word_dropout}); "
        "the reference keeps the first tokens and the final hidden states, as the tutorials do.", "",
        *table(reference, encoding, ours, variants, len(data.test)), "",
        "### The floor for one epoch on a GPU", "",
        f"For these {int(lengths.sum()):,} training tokens (after truncation), forward and backward:", "",
        "| model | FLOPs | sequential RNN steps |", "|---|---:|---:|",
        f"| BiLSTM {config.embedding_dim}/{config.hidden_dim}, batch {config.batch_size} | {floor['flops']:.2e} | "
        f"{floor['sequential_steps']:,} |",
        f"| BiLSTM 256/256, batch {config.batch_size} | {floor_256['flops']:.2e} | {floor_256['sequential_steps']:,} |",
        f"| BiLSTM 256/256, batch 256 | {floor_256['flops']:.2e} | "
        f"{epoch_floor(lengths, 256, 256, 256)['sequential_steps']:,} |", "",
    ]
    publish(lines, args.output, "benchmark_speed", write=not args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
