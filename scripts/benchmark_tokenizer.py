"""Tokenisation profile: where the time of textrnn's first encoding pass goes, against Python regex.

    .venv/bin/python scripts/benchmark_tokenizer.py            # IMDB train; writes its table to docs/BENCHMARKS.md
    .venv/bin/python scripts/benchmark_tokenizer.py --quick    # 2,000 reviews; writes nothing

textrnn's pipeline (Hugging Face `tokenizers`: <br> to space, NFKC, lowercase, `\\w+|[^\\w\\s]+` split,
word-level lookup) is taken apart one stage at a time, each row the previous one minus a stage, down to
the library's floor (no normaliser, split on whitespace only, ids left in Rust). The reference is the
tutorials' Python: lowercase, regex, dictionary lookups. Every row encodes the same texts with the same
vocabulary; each is timed three times and the fastest kept, wall clock and CPU seconds (the library
spreads a batch over every core, Python uses one).
"""

import argparse
import re
import sys
import time
from pathlib import Path

import datasets
import torch
from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers

from textrnn.training.config import TrainConfig
from textrnn.tokenizer import UNK_ID, encode_batch, train_tokenizer

from common import describe_machine, produced_by, publish

ROOT = Path(__file__).resolve().parent.parent
LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
WORD = re.compile(r"\w+|[^\w\s]+")  # the same split as the `Whitespace` pre-tokenizer
REPEATS = 3


def timed(call) -> tuple[float, float, int]:
    """(wall s, CPU s, tokens) of the fastest of REPEATS calls; `call` returns the id lists."""
    best = None
    for _ in range(REPEATS):
        wall, cpu = time.perf_counter(), time.process_time()
        tokens = call()
        result = (time.perf_counter() - wall, time.process_time() - cpu, tokens)
        best = result if best is None or result[0] < best[0] else best
    return best


def count(sequences) -> int:
    return sum(map(len, sequences))


def variant(tokenizer: Tokenizer, normalizer=..., pre_tokenizer=None) -> Tokenizer:
    """A copy of `tokenizer`, untruncated, with its normaliser or pre-tokenizer swapped."""
    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_truncation()
    if normalizer is not ...:
        copy.normalizer = normalizer
    if pre_tokenizer is not None:
        copy.pre_tokenizer = pre_tokenizer
    return copy


def profile(texts: list[str], config: TrainConfig) -> list[tuple[str, float, float, int]]:
    tokenizer = train_tokenizer(texts, config.tokenizer_config(), num_texts=len(texts))
    vocab = tokenizer.get_vocab()

    def reference():
        return count([[vocab.get(word, UNK_ID) for word in WORD.findall(LINE_BREAK.sub(" ", text.lower()))]
                      for text in texts])

    def ids_of(copy):
        return lambda: count([encoding.ids for encoding in copy.encode_batch_fast(texts, add_special_tokens=False)])

    line_break = normalizers.Replace(Regex(r"(?i)<br\s*/?>"), " ")
    no_nfkc = variant(tokenizer, normalizers.Sequence([line_break, normalizers.Lowercase()]))
    no_normaliser = variant(tokenizer, None)
    floor = variant(tokenizer, None, pre_tokenizers.WhitespaceSplit())
    shipped_wall, shipped_cpu, _ = timed(lambda: count(encode_batch(tokenizer, texts, config.tokenizer_config())))
    raw_tokens = ids_of(variant(tokenizer))()  # the rate's unit: tokens read, before truncation keeps some
    rows = [
        ("Python: lowercase, regex, dictionary lookups (the reference)", *timed(reference)),
        (f"textrnn `encode_batch` as shipped ({config.max_length} tokens, {config.truncation})",
         shipped_wall, shipped_cpu, raw_tokens),
        ("the tokenizer alone, untruncated: <br>, NFKC, lowercase, split, lookup", *timed(ids_of(variant(tokenizer)))),
        ("minus NFKC", *timed(ids_of(no_nfkc))),
        ("minus every normaliser", *timed(ids_of(no_normaliser))),
        ("minus the regex split (split on whitespace only)", *timed(ids_of(floor))),
        ("minus the Python lists (ids left in Rust)",
         *timed(lambda: len(floor.encode_batch_fast(texts, add_special_tokens=False)))),
    ]
    return rows


def table(rows, texts: int) -> list[str]:
    reference_rate = rows[0][3] / rows[0][1]
    lines = ["| pipeline | wall s | CPU s | tokens | tokens/s (wall) | against the reference |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, wall, cpu, tokens in rows:
        tokens_text = f"{tokens:,}" if tokens > texts else "(not read)"
        rate = f"{tokens / wall / 1e6:.2f}M" if tokens > texts else ""
        ratio = f"{tokens / wall / reference_rate:.2f}x" if tokens > texts else ""
        lines.append(f"| {name} | {wall:.2f} | {cpu:.2f} | {tokens_text} | {rate} | {ratio} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--quick", action="store_true", help="2,000 texts; writes nothing")
    parser.add_argument("--output", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    datasets.disable_progress_bars()
    train = datasets.load_dataset(args.data, split="train")
    texts = train.shuffle(seed=0).select(range(2000))["text"] if args.quick else train["text"]
    config = TrainConfig(dataset=args.data).resolve(texts)
    rows = profile(texts, config)
    lines = [f"{produced_by('python scripts/benchmark_tokenizer.py')}: "
             f"{describe_machine(torch.device('cpu'))}; the {len(texts):,} IMDB training reviews, vocabulary "
             f"{config.vocab_size:,} (preset `{config.preset}`), fastest of {REPEATS} runs each.", "",
             *table(rows, len(texts))]
    publish(lines, args.output, "benchmark_tokenizer", write=not args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
