"""Sentiment sets cut from the training splits of IMDB and SST-2, to choose and check presets on.

    .venv/bin/python scripts/derive_sentiment_sets.py                  # writes runs/derived/<set>/{train,test}.parquet
    .venv/bin/textrnn train --dataset runs/derived/imdb_sentences --output runs/derived-runs/sentences

The presets were chosen on IMDB (long reviews), AG News (topic paragraphs) and SST-2 (phrases). Held-out
sentiment data comes in other shapes: one-line verdicts (like MR or tweets) and short reviews (like Amazon
or Yelp). These sets imitate those from IMDB's 25,000 training reviews only (the IMDB test split is never
read), shuffled and cut in half, one half to train on and one to test on:

    imdb_sentences   the last sentence of each review (median 12 words; `auto` picks `sentence`),
                     10,000 to train on, like MR's 10,662 sentences
    imdb_paragraphs  the last three sentences (median 49 words; `auto` picks `paragraph`), 12,500

The labels stay the review's: a last sentence may not carry its review's verdict, so accuracies are lower
than on whole reviews, for every model alike.

SST-2's train split holds every phrase of its sentences, so a random share of it is no validation set
(its phrases' sentences are in train) and runs about 8 points above the GLUE sentences. `sst2_sentences`
is one that behaves like them, from SST-2 train only (GLUE validation is never read):

    sst2_sentences   1,000 whole sentences (phrases inside no other phrase, 12 words or more) to test on;
                     train is every other phrase, less those of 3 words or more found inside a test
                     sentence (one- and two-word phrases stay: they are the shared lexicon)
"""

import argparse
import random
import re
from pathlib import Path

import datasets

ROOT = Path(__file__).resolve().parent.parent
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
LINE_BREAK = re.compile(r"(?i)<br\s*/?>")
SETS = {"imdb_sentences": (1, 10_000), "imdb_paragraphs": (3, 12_500)}  # name: (last sentences kept, train size)
SST2_TEST_SENTENCES, SST2_MIN_WORDS, SST2_KEPT_WORDS = 1_000, 12, 2


def last_sentences(text: str, count: int) -> str:
    sentences = [s for s in SENTENCE_END.split(LINE_BREAK.sub(" ", text).strip()) if s]
    return " ".join(sentences[-count:])


def whole_sentences(phrases: list[str], count: int, min_words: int, seed: int = 0) -> list[int]:
    """Indices of `count` random phrases of `min_words` or more that occur inside no other phrase."""
    everything = "\n".join(phrases)
    candidates = [i for i, phrase in enumerate(phrases) if len(phrase.split()) >= min_words]
    random.Random(seed).shuffle(candidates)
    chosen = []
    for i in candidates:
        if everything.count(phrases[i].strip()) == 1:  # only itself
            chosen.append(i)
            if len(chosen) == count:
                break
    return chosen


def write_sst2_sentences(sst2: str, output: Path) -> None:
    train = datasets.load_dataset(sst2, split="train")
    phrases = train["sentence"]
    test_rows = whole_sentences(phrases, SST2_TEST_SENTENCES, SST2_MIN_WORDS)
    test_text, held_out = "\n".join(phrases[i] for i in test_rows), set(test_rows)
    train_rows = [i for i, phrase in enumerate(phrases) if i not in held_out
                  and not (len(phrase.split()) > SST2_KEPT_WORDS and phrase.strip() in test_text)]
    folder = output / "sst2_sentences"
    folder.mkdir(parents=True, exist_ok=True)
    train.select(train_rows).to_parquet(str(folder / "train.parquet"))
    train.select(test_rows).to_parquet(str(folder / "test.parquet"))
    print(f"{folder}: {len(train_rows):,} train phrases, {len(test_rows):,} test sentences "
          f"({len(phrases) - len(train_rows) - len(test_rows):,} phrases of the test sentences left out)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imdb", default=str(ROOT.parent / "shared" / "data" / "imdb"))
    parser.add_argument("--sst2", default=str(ROOT.parent / "shared" / "data" / "sst2"))
    parser.add_argument("--output", default=str(ROOT / "runs" / "derived"))
    args = parser.parse_args(argv)
    datasets.disable_progress_bars()
    reviews = datasets.load_dataset(args.imdb, split="train").shuffle(seed=0)
    half = len(reviews) // 2
    for name, (count, train_size) in SETS.items():
        cut = reviews.map(lambda row, count=count: {"text": last_sentences(row["text"], count)})
        cut = cut.filter(lambda row: bool(row["text"].strip()))
        folder = Path(args.output) / name
        folder.mkdir(parents=True, exist_ok=True)
        cut.select(range(min(train_size, half))).to_parquet(str(folder / "train.parquet"))
        cut.select(range(half, len(cut))).to_parquet(str(folder / "test.parquet"))
        print(f"{folder}: {min(train_size, half):,} train, {len(cut) - half:,} test")
    write_sst2_sentences(args.sst2, Path(args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
