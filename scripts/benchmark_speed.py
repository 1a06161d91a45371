"""Speed: textrnn against a tutorial-style PyTorch pipeline, side by side in one run, on IMDB.

    .venv/bin/python scripts/benchmark_speed.py                   # CPU; writes docs/BENCHMARKS.md
    .venv/bin/python scripts/benchmark_speed.py --device cuda     # the same on a GPU (+ AMP and batch sizes)
    .venv/bin/python scripts/benchmark_speed.py --quick           # a smoke test: small slices, no file written

The reference is written here, as the popular PyTorch sentiment tutorials do it: a Python regex
tokenizer, a Counter vocabulary, shuffled random batches, an embedding + BiLSTM over
`pack_padded_sequence(enforce_sorted=False)` with the final hidden states into a linear layer, Adam.
Both sides get the same data (textrnn's train/validation split of IMDB train, its test split), the
same vocabulary size, maximum length, embedding and hidden sizes and batch size, and one epoch each;
the table gives both test accuracies after that epoch so speed is not bought with accuracy.
"""

import argparse
import platform
import re
import statistics
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textrnn import classify_text, load  # noqa: E402
from textrnn.config import TrainConfig  # noqa: E402
from textrnn.data import encode_split, load_splits, prepare_data, quiet_datasets  # noqa: E402
from textrnn.tokenizer import encode_batch, train_tokenizer  # noqa: E402
from textrnn.train import train  # noqa: E402

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
        embedded = self.dropout(self.embedding(ids))
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)
        return self.fc(self.dropout(torch.cat([hidden[-2], hidden[-1]], dim=-1)))


def reference_batches(sequences, labels, batch_size, shuffle, seed=0):
    order = np.random.default_rng(seed).permutation(len(sequences)) if shuffle else np.arange(len(sequences))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids = pad_sequence([torch.tensor(sequences[i]) for i in rows], batch_first=True, padding_value=PAD)
        lengths = torch.tensor([len(sequences[i]) for i in rows])
        yield ids, lengths, torch.tensor([labels[i] for i in rows])


def reference_predict(model, sequences, batch_size, device) -> np.ndarray:
    model.eval()
    predictions = []
    with torch.no_grad():
        for ids, lengths, _ in reference_batches(sequences, [0] * len(sequences), batch_size, shuffle=False):
            predictions.append(model(ids.to(device), lengths).argmax(-1).cpu())
    return torch.cat(predictions).numpy()


def run_reference(data, config: TrainConfig, device, log) -> dict:
    """Tokenise, build the vocabulary, train one epoch, evaluate: the tutorial way, timed step by step."""
    result = {}
    started = time.perf_counter()
    train_tokens = [reference_tokenize(text) for text in data.train["text"]]
    result["tokenize_s"] = time.perf_counter() - started
    started = time.perf_counter()
    vocab = reference_vocabulary(train_tokens, config.vocab_size, config.min_freq)
    result["vocabulary_s"] = time.perf_counter() - started
    started = time.perf_counter()
    train_ids = [reference_numericalize(tokens, vocab, config.max_length) for tokens in train_tokens]
    result["numericalize_s"] = time.perf_counter() - started
    result["raw_tokens"] = sum(map(len, train_tokens))
    valid_ids = [reference_numericalize(reference_tokenize(t), vocab, config.max_length) for t in data.validation["text"]]

    torch.manual_seed(config.seed)
    model = ReferenceLSTM(len(vocab) + 2, config.embedding_dim, config.hidden_dim, len(data.label_names),
                          config.dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    model.train()
    started = time.perf_counter()
    labels = data.train["label"]
    for step, (ids, lengths, batch_labels) in enumerate(reference_batches(train_ids, labels, config.batch_size, True)):
        optimizer.zero_grad()
        loss = criterion(model(ids.to(device), lengths), batch_labels.to(device))
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            log(f"  reference step {step}: loss {loss.item():.4f}, {time.perf_counter() - started:.0f}s")
    reference_predict(model, valid_ids, config.batch_size, device)  # the epoch's validation pass, as ours does
    result["epoch_s"] = time.perf_counter() - started
    result["train_tokens"] = sum(map(len, train_ids))

    started = time.perf_counter()  # the evaluation loop, from raw text
    test_ids = [reference_numericalize(reference_tokenize(t), vocab, config.max_length) for t in data.test["text"]]
    predictions = reference_predict(model, test_ids, 256, device)
    result["predict_s"] = time.perf_counter() - started
    result["accuracy"] = float((predictions == np.asarray(data.test["label"])).mean())

    def classify_one():
        ids = torch.tensor([reference_numericalize(reference_tokenize(SHORT_SENTENCE), vocab, config.max_length)])
        with torch.no_grad():
            return torch.softmax(model(ids.to(device), torch.tensor([ids.size(1)])), -1).cpu()

    result["latency"] = latencies(classify_one)
    return result


# ----------------------------------------------------------------------------- measurements


def latencies(call, warmup: int = 50, repeats: int = 1000) -> dict:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    times_ms = np.asarray(times) * 1000
    return {"p50_ms": float(np.percentile(times_ms, 50)), "p99_ms": float(np.percentile(times_ms, 99))}


def run_textrnn(data, config: TrainConfig, device, log) -> dict:
    """textrnn's own code paths: its tokenizer and cached encoding, `train` for one epoch, `classify_text`."""
    result = {}
    started = time.perf_counter()
    tokenizer = train_tokenizer(data.train["text"], config.tokenizer_config(), num_texts=len(data.train))
    result["vocabulary_s"] = time.perf_counter() - started
    texts = data.train["text"]
    started = time.perf_counter()
    sequences = encode_batch(tokenizer, texts, config.tokenizer_config())
    result["tokenize_numericalize_s"] = time.perf_counter() - started
    result["encoded_tokens"] = sum(map(len, sequences))
    untruncated = Tokenizer.from_str(tokenizer.to_str())  # the tokens read, before truncation: the rate's unit
    untruncated.no_truncation()
    result["raw_tokens"] = sum(len(e.ids) for e in untruncated.encode_batch_fast(texts, add_special_tokens=False))
    encode_split(data.train, tokenizer, config.tokenizer_config())  # fills the datasets cache if it is empty
    started = time.perf_counter()
    encode_split(data.train, tokenizer, config.tokenizer_config())
    result["cached_encode_s"] = time.perf_counter() - started

    summary = train(config)
    import json

    history = [json.loads(line) for line in (Path(config.output) / "metrics.jsonl").read_text().splitlines()]
    result["epoch_s"] = history[0]["seconds"]
    result["accuracy"] = summary["report"]["accuracy"]
    classifier = load(config.output, device=device)
    result["train_tokens"] = sum(len(s) for s in sequences)
    started = time.perf_counter()
    classifier.predict_proba(data.test["text"])
    result["predict_s"] = time.perf_counter() - started
    result["latency"] = latencies(lambda: classify_text(SHORT_SENTENCE, classifier))
    return result


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {torch.get_num_threads()} threads; PyTorch {torch.__version__}, Python {platform.python_version()}"
            + (f"; GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="2,000 training texts, nothing written to docs/")
    parser.add_argument("--output", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    quiet_datasets()
    log = print
    config = TrainConfig(dataset=args.data, output="/tmp/textrnn-benchmark-speed", force=True, epochs=1,
                         device=args.device, progress=False)
    raw = load_splits(config.dataset)
    data = prepare_data(raw, validation_size=config.validation_size, seed=config.seed)
    if args.quick:
        data.train, data.test = data.train.select(range(2000)), data.test.select(range(1000))
    device = torch.device(args.device)
    log(f"machine: {machine()}")
    log(f"data: {len(data.train):,} train, {len(data.validation):,} validation, {len(data.test):,} test texts")
    log("reference (tutorial) pipeline ...")
    reference = run_reference(data, config, device, log)
    log(f"reference: {reference}")
    log("textrnn ...")
    ours = run_textrnn(data, config, device, log)
    log(f"textrnn: {ours}")
    # table ...
    rows = table_rows(reference, ours, len(data.test))
    text = render(rows, args, config, data)
    print(text)
    if not args.quick:
        Path(args.output).write_text(text)
    return 0


def table_rows(reference: dict, ours: dict, test_texts: int) -> list[tuple[str, str, str, str]]:
    def rate(tokens, seconds):
        return tokens / seconds

    ref_tok = rate(reference["raw_tokens"], reference["tokenize_s"] + reference["numericalize_s"])
    our_tok = rate(ours["raw_tokens"], ours["tokenize_numericalize_s"])
    ref_train = rate(reference["train_tokens"], reference["epoch_s"])
    our_train = rate(ours["train_tokens"], ours["epoch_s"])
    ref_docs, our_docs = test_texts / reference["predict_s"], test_texts / ours["predict_s"]
    return [
        ("tokenise + numericalise (train texts, tokens/s)", f"{ref_tok / 1e6:.2f}M", f"{our_tok / 1e6:.2f}M",
         f"{our_tok / ref_tok:.2f}x"),
        ("second time: read from the datasets cache (s)", f"{reference['tokenize_s'] + reference['numericalize_s']:.2f}"
         " (recomputed)", f"{ours['cached_encode_s']:.2f}", ""),
        ("training epoch incl. validation (s)", f"{reference['epoch_s']:.1f}", f"{ours['epoch_s']:.1f}",
         f"{reference['epoch_s'] / ours['epoch_s']:.2f}x"),
        ("training throughput (real tokens/s)", f"{ref_train / 1e3:.1f}k", f"{our_train / 1e3:.1f}k",
         f"{our_train / ref_train:.2f}x"),
        ("test accuracy after that epoch", f"{reference['accuracy']:.2%}", f"{ours['accuracy']:.2%}", ""),
        ("batched inference from raw text (docs/s)", f"{ref_docs:.0f}", f"{our_docs:.0f}", f"{our_docs / ref_docs:.2f}x"),
        ("one short sentence, p50 (ms)", f"{reference['latency']['p50_ms']:.2f}", f"{ours['latency']['p50_ms']:.2f}",
         f"{reference['latency']['p50_ms'] / ours['latency']['p50_ms']:.2f}x"),
        ("one short sentence, p99 (ms)", f"{reference['latency']['p99_ms']:.2f}", f"{ours['latency']['p99_ms']:.2f}",
         f"{reference['latency']['p99_ms'] / ours['latency']['p99_ms']:.2f}x"),
    ]


def render(rows, args, config: TrainConfig, data) -> str:
    lines = ["| measure | tutorial reference | textrnn | ratio |", "|---|---:|---:|---:|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
