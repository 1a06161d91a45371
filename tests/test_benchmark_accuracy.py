"""scripts/benchmark_accuracy.py's fastText input and its table from logs, without fastText installed."""

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "benchmark_accuracy.py"


def load_script(name: str):
    # The scripts do `from common import ...` (scripts/common.py), which `python scripts/NAME.py` finds because
    # Python puts the script's folder first on sys.path. Loaded from here it is not, so scripts/ goes on sys.path
    # while the script loads, and comes off again after.
    spec = importlib.util.spec_from_file_location(name, SCRIPT.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(SCRIPT.parent))
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_script("benchmark_accuracy")


@pytest.fixture(scope="module")
def fasttext_script():
    return load_script("fasttext_baseline")


def test_fasttext_text_lowercases_splits_punctuation_and_spaces_out_unspaced_scripts(fasttext_script):
    assert fasttext_script.fasttext_text("Don't STOP.\nNow!", spaced=True) == "don ' t stop . now !"
    assert fasttext_script.fasttext_text("很好用，\n推荐 ok", spaced=False) == "很 好 用 ， 推 荐 o k"


def test_a_child_past_its_timeout_is_stopped_and_started_once_more(fasttext_script, tmp_path):
    # the child sleeps on its first start only, so the retry is what finishes
    marker = tmp_path / "started"
    child = [sys.executable, "-c", f"import pathlib, time; p = pathlib.Path({str(marker)!r}); "
                                   "first = not p.exists(); p.touch(); time.sleep(30 if first else 0)"]
    assert fasttext_script.run_with_timeout(child, timeout=3) == 2


def test_a_child_past_its_timeout_every_time_fails_clearly(fasttext_script):
    with pytest.raises(TimeoutError, match="passed its 1 s on each of 2 attempts"):
        fasttext_script.run_with_timeout([sys.executable, "-c", "import time; time.sleep(30)"], timeout=1)


def test_a_child_that_fails_is_not_retried(fasttext_script):
    with pytest.raises(RuntimeError, match="exited 3: no data"):
        fasttext_script.run_with_timeout(
            [sys.executable, "-c", "import sys; sys.stderr.write('no data'); sys.exit(3)"], timeout=30)


def tiny_sentiment(multi: bool):
    import types

    import numpy as np

    good, bad = ["a good fine film", "good and fine"], ["a bad dull film", "bad and dull"]
    texts = (good + bad) * 10
    labels = ([[0], [0], [1], [1]] if multi else [0, 0, 1, 1]) * 10
    split = {"text": texts, "label": labels}
    data = types.SimpleNamespace(train=split, validation=split, test=split, label_names=["pos", "neg"],
                                 problem_type="multi" if multi else "single")
    target = np.array([[1, 0], [1, 0], [0, 1], [0, 1]] * 10) if multi else np.array(labels)
    return data, (target, target, target)


@pytest.mark.parametrize("multi", [False, True], ids=["autotune", "one-vs-all grid"])
def test_fasttext_baseline_fits_in_its_child_process(fasttext_script, multi):
    pytest.importorskip("fasttext")
    data, targets = tiny_sentiment(multi)
    result = fasttext_script.fasttext_baseline(data, targets, spaced=True, threads=1, autotune_seconds=2)
    assert result["attempts"] == 1 and result["thread"] == 1 and result["settings"]["wordNgrams"] == 2
    assert result["macro_f1" if multi else "accuracy"] == 1.0


def test_table_from_an_old_run_log_shows_a_dash_for_fasttext(bench, tmp_path, monkeypatch):
    old = {"dataset": "sst2", "seed": 0, "date": "2026-11-23", "accuracy": 0.8, "macro_f1": 0.8, "seconds": 60,
           "command": "textrnn train ...", "preset": "sentence",
           "baseline": {"accuracy": 0.82, "valid_accuracy": 0.9, "C": 10.0, "seconds": 9}}
    (tmp_path / "runs.jsonl").write_text(json.dumps(old) + "\n")
    monkeypatch.setattr(bench, "RUN_LOG", tmp_path / "runs.jsonl")
    monkeypatch.setattr(bench, "BASELINE_LOG", tmp_path / "baselines.jsonl")  # absent
    monkeypatch.setattr(bench, "data_flags", lambda root, name: ["--train-file", "t", "--test-file", "v"])
    bench.write_results(bench.rows_from_log(None, tmp_path), tmp_path / "RESULTS.md", "test")
    row = next(line for line in (tmp_path / "RESULTS.md").read_text().splitlines() if line.startswith("| sst2"))
    assert "82.00 (C=10.0, word 1-2 grams) | — |" in row

    fasttext = {"dataset": "sst2", "method": "fasttext", "date": "2026-11-27", "accuracy": 0.81, "valid_score": 0.9,
                "tuning": "autotune 120 s", "thread": 2, "seed": 0, "seconds": 130,
                "settings": {"lr": 0.5, "epoch": 7, "dim": 40, "wordNgrams": 2, "minn": 0, "maxn": 0}}
    (tmp_path / "baselines.jsonl").write_text(json.dumps(fasttext) + "\n")
    bench.write_results(bench.rows_from_log(None, tmp_path), tmp_path / "RESULTS.md", "test")
    row = next(line for line in (tmp_path / "RESULTS.md").read_text().splitlines() if line.startswith("| sst2"))
    assert "| 81.00 (lr 0.5, epoch 7, dim 40, wordNgrams 2) |" in row


# ----------------------------------------------------------------------------- small-data cuts: NAME@SIZE.DRAW


def write_set(folder: Path, splits: dict[str, int]) -> Path:
    """A tiny data set of parquet files, as ../shared/data has them: text, a ClassLabel `label` (neg, pos) and a
    string `category`; every text is unique (its row number and split lead it)."""
    from datasets import ClassLabel, Dataset, Features, Value

    from helpers import make_texts

    folder.mkdir(parents=True)
    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"]),
                         "category": Value("string")})
    for seed, (split, count) in enumerate(splits.items()):
        rows = make_texts(count, seed=seed)
        Dataset.from_dict({"text": [f"{split} {i}: {text}" for i, (text, _) in enumerate(rows)],
                           "label": [1 if label == "pos" else 0 for _, label in rows],
                           "category": ["books" if i % 3 else "phones" for i in range(count)]},
                          features=features).to_parquet(str(folder / f"{split}.parquet"))
    return folder


@pytest.fixture
def data_root(tmp_path):
    """`tiny` (train 40, validation 10, test 12) and `tiny_sst` (train 40, validation 12: no test, as SST-2)."""
    root = tmp_path / "data"
    write_set(root / "tiny", {"train": 40, "validation": 10, "test": 12})
    write_set(root / "tiny_sst", {"train": 40, "validation": 12})
    return root


def texts(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(path).column("text").to_pylist()


def test_cut_names_parse_with_and_without_label_column_and_draw(bench):
    assert bench.parse_cut("ag_news_small") == ("ag_news_small", None, 0)
    assert bench.parse_cut("online_shopping_zh:category") == ("online_shopping_zh:category", None, 0)
    assert bench.parse_cut("ag_news_small@2000") == ("ag_news_small", 2000, 0)
    assert bench.parse_cut("sst2@5000.1") == ("sst2", 5000, 1)
    assert bench.parse_cut("online_shopping_zh:category@5000.1") == ("online_shopping_zh:category", 5000, 1)
    assert bench.parse_cut("online_shopping_zh:category@5000") == ("online_shopping_zh:category", 5000, 0)
    # one name a cut, whichever way it was asked for; its folder name without ':' and '@'
    assert bench.cut_name("sst2@5000") == bench.cut_name("sst2@5000.0") == "sst2@5000.0"
    assert bench.cut_name("online_shopping_zh:category") == "online_shopping_zh:category"
    assert bench.safe_name("online_shopping_zh:category@5000.1") == "online_shopping_zh-category-5000.1"
    assert bench.safe_name("online_shopping_zh:category") == "online_shopping_zh-category"  # the old run folders
    for bad in ("sst2@", "sst2@many", "sst2@5000.", "sst2@5000.1.2", "sst2@-5", "sst2@0", "sst2@50@1", "@5000"):
        with pytest.raises(SystemExit, match="NAME\\[:LABEL_COLUMN\\]\\[@SIZE\\[.DRAW\\]\\]"):
            bench.parse_cut(bad)


def load(bench, data_root: Path, name: str, cuts_folder: Path):
    """(textrnn's data flags, the prepared splits) of a set or cut, as a benchmark run reads them."""
    flags = bench.dataset_flags(data_root, name, cuts_folder)
    return flags, bench.data_from_flags(flags)


def test_a_cut_keeps_size_train_texts_and_the_validation_and_test_splits_whole(bench, data_root, tmp_path):
    folder = bench.make_cut(data_root, "tiny:category@20.1", tmp_path / "cuts")
    assert folder == tmp_path / "cuts" / "tiny-category-20.1"
    assert sorted(path.name for path in folder.iterdir()) == ["test.parquet", "train.parquet", "validation.parquet"]
    train = texts(folder / "train.parquet")
    assert len(train) == len(set(train)) == 20 and set(train) < set(texts(data_root / "tiny" / "train.parquet"))
    for split in ("validation", "test"):
        assert texts(folder / f"{split}.parquet") == texts(data_root / "tiny" / f"{split}.parquet")

    # textrnn's flags name the cut's files, the label column with them; the baselines read the same files
    flags, data = load(bench, data_root, "tiny:category@20.1", tmp_path / "cuts")
    assert flags == ["--train-file", str(folder / "train.parquet"), "--validation-file",
                     str(folder / "validation.parquet"), "--test-file", str(folder / "test.parquet"),
                     "--label-column", "category"]
    assert sorted(data.train["text"]) == sorted(train) and len(data.validation) == 10 and len(data.test) == 12
    assert sorted(data.label_names) == ["books", "phones"]

    # the cut's train split keeps the set's ClassLabel names; a full set still loads as before
    flags, data = load(bench, data_root, "tiny@20", tmp_path / "cuts")
    assert flags[1] == str(tmp_path / "cuts" / "tiny-20.0" / "train.parquet") and "--label-column" not in flags
    assert data.label_names == ["neg", "pos"] and len(data.train) == 20
    flags, data = load(bench, data_root, "tiny", tmp_path / "cuts")
    assert flags == ["--dataset", str(data_root / "tiny")] and len(data.train) == 40


def test_a_cut_of_a_set_without_a_test_split_is_scored_on_its_validation_split(bench, data_root, tmp_path):
    """As SST-2: the cut has train and validation files; validation is the test, 10% of the cut's train the
    validation split."""
    flags, data = load(bench, data_root, "tiny_sst@20", tmp_path / "cuts")
    folder = tmp_path / "cuts" / "tiny_sst-20.0"
    assert sorted(path.name for path in folder.iterdir()) == ["train.parquet", "validation.parquet"]
    assert flags == ["--train-file", str(folder / "train.parquet"), "--test-file", str(folder / "validation.parquet")]
    assert data.held_out and len(data.train) + len(data.validation) == 20 and len(data.validation) == 2
    assert list(data.test["text"]) == texts(data_root / "tiny_sst" / "validation.parquet")
    assert set(data.train["text"]) | set(data.validation["text"]) == set(texts(folder / "train.parquet"))


def test_a_cut_as_large_as_the_train_split_is_an_error(bench, data_root, tmp_path):
    for name in ("tiny@40", "tiny:category@41.1"):
        with pytest.raises(SystemExit, match="not below the train split's 40 texts"):
            load(bench, data_root, name, tmp_path / "cuts")
    assert not (tmp_path / "cuts").exists()
    with pytest.raises(SystemExit, match="no folder"):
        bench.make_cut(data_root, "absent@10", tmp_path / "cuts")


def test_draws_differ_and_a_draw_is_the_same_every_time(bench, data_root, tmp_path):
    first = texts(bench.make_cut(data_root, "tiny@20.1", tmp_path / "a") / "train.parquet")
    again = texts(bench.make_cut(data_root, "tiny@20.1", tmp_path / "b") / "train.parquet")
    other = texts(bench.make_cut(data_root, "tiny@20", tmp_path / "a") / "train.parquet")
    assert first == again
    assert set(first) != set(other)
    # written again over an existing cut: the same files
    assert texts(bench.make_cut(data_root, "tiny@20.1", tmp_path / "a") / "train.parquet") == first


def test_cuts_expand_to_each_size_below_the_train_split_and_each_draw(bench, data_root):
    sizes = {"online_shopping_zh": 47_453, "ag_news_small": 6_000, "sst2": 67_349}  # the shared sets' train splits
    assert bench.cut_names(sizes, 2) == [
        *(f"online_shopping_zh@{size}.{draw}" for size in (2000, 5000, 10000) for draw in (0, 1)),
        *(f"online_shopping_zh:category@{size}.{draw}" for size in (2000, 5000, 10000) for draw in (0, 1)),
        "ag_news_small@2000.0", "ag_news_small@2000.1", "ag_news_small@5000.0", "ag_news_small@5000.1",
        "sst2@5000.0", "sst2@5000.1"]
    assert bench.cut_names({"online_shopping_zh": 5000, "ag_news_small": 2000, "sst2": 5001}, 1) == [
        "online_shopping_zh@2000.0", "online_shopping_zh:category@2000.0", "sst2@5000.0"]
    assert bench.cut_names({"tiny": 40}, 3, cuts=(("tiny", (10, 40)),)) == ["tiny@10.0", "tiny@10.1", "tiny@10.2"]
    # the sizes come from the train files' parquet metadata, one entry a folder
    assert bench.train_sizes(data_root, ["tiny", "tiny:category", "tiny_sst"]) == {"tiny": 40, "tiny_sst": 40}


def test_cut_rows_sit_beside_the_full_sets_in_the_table(bench, data_root, tmp_path, monkeypatch):
    run = {"seed": 0, "date": "2026-12-01", "accuracy": 0.8, "macro_f1": 0.8, "seconds": 60,
           "command": "textrnn train ...", "preset": "sentence"}
    names = ("tiny", "tiny@20.1", "tiny_sst@20.0")
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps({**run, "dataset": name}) + "\n" for name in names))
    monkeypatch.setattr(bench, "RUN_LOG", tmp_path / "runs.jsonl")
    monkeypatch.setattr(bench, "BASELINE_LOG", tmp_path / "baselines.jsonl")  # absent
    bench.write_results(bench.rows_from_log(None, data_root), tmp_path / "RESULTS.md", "test")
    cells = [line.split(" | ")[0] for line in (tmp_path / "RESULTS.md").read_text().splitlines()
             if line.startswith("| tiny")]
    assert cells == ["| tiny (test)", "| tiny@20.1 (test)", "| tiny_sst@20.0 (validation)"]


def test_baselines_of_a_cut_are_logged_under_its_name(bench, data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "RUN_LOG", tmp_path / "runs.jsonl")
    monkeypatch.setattr(bench, "BASELINE_LOG", tmp_path / "baselines.jsonl")
    code = bench.main(["--data-root", str(data_root), "--datasets", "tiny@20", "--baselines-only", "--baselines",
                       "tfidf", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "RESULTS.md")])
    assert code == 0
    (logged,) = [json.loads(line) for line in (tmp_path / "baselines.jsonl").read_text().splitlines()]
    assert logged["dataset"] == "tiny@20.0" and logged["method"] == "tfidf"
    assert (tmp_path / "runs" / "cuts" / "tiny-20.0" / "train.parquet").is_file()
    assert any(line.startswith("| tiny@20.0 (test) | 0 | — | — | — |")
               for line in (tmp_path / "RESULTS.md").read_text().splitlines())


def test_fasttext_autotunes_a_cut_for_its_own_seconds(bench):
    args = bench.argparse.Namespace(quick=False, fasttext_autotune=120, fasttext_autotune_cut=60)
    assert bench.autotune_seconds("sst2", args) == 120
    assert bench.autotune_seconds("online_shopping_zh:category", args) == 120
    assert bench.autotune_seconds("sst2@5000.1", args) == 60
    assert bench.autotune_seconds("sst2@5000.1", bench.argparse.Namespace(**{**vars(args), "quick": True})) == 10


def test_since_leaves_out_the_runs_before_a_date(bench, tmp_path, monkeypatch):
    def run(seed, date, accuracy):
        return {"dataset": "sst2", "seed": seed, "date": date, "accuracy": accuracy, "macro_f1": accuracy,
                "seconds": 60, "command": "textrnn train ...", "preset": "sentence"}

    rows = [run(0, "2026-11-23", 0.80), run(1, "2026-11-23", 0.81), run(0, "2026-12-01", 0.85)]
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    monkeypatch.setattr(bench, "RUN_LOG", tmp_path / "runs.jsonl")
    monkeypatch.setattr(bench, "BASELINE_LOG", tmp_path / "baselines.jsonl")  # absent
    monkeypatch.setattr(bench, "data_flags", lambda root, name: ["--train-file", "t", "--test-file", "v"])
    assert [r["accuracy"] for r in bench.rows_from_log(None, tmp_path)[0]["runs"]] == [0.85, 0.81]
    assert [r["accuracy"] for r in bench.rows_from_log(None, tmp_path, since="2026-12-01")[0]["runs"]] == [0.85]


# ----------------------------------------------------------------------------- one run: --jobs and --resume


def test_jobs_run_the_trainings_in_their_own_processes_and_resume_skips_what_the_logs_hold(
        bench, data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "RUN_LOG", tmp_path / "runs.jsonl")
    monkeypatch.setattr(bench, "BASELINE_LOG", tmp_path / "baselines.jsonl")
    monkeypatch.setattr(bench, "code_version", lambda: "0123456789ab")
    argv = ["--data-root", str(data_root), "--datasets", "tiny", "tiny_sst@20", "--seeds", "0", "1", "--jobs", "2",
            "--baselines", "tfidf", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "RESULTS.md"),
            "--", "--epochs", "1", "--embedding-dim", "8", "--hidden-dim", "8"]
    assert bench.main(argv) == 0
    runs = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert sorted((run["dataset"], run["seed"]) for run in runs) == [
        ("tiny", 0), ("tiny", 1), ("tiny_sst@20.0", 0), ("tiny_sst@20.0", 1)]
    assert {run["code"] for run in runs} == {"0123456789ab"} and {run["threads"] for run in runs} >= {1}
    assert all(run["device"].startswith("CPU (") and "2 runs at once" in run["device"] for run in runs)
    # each training wrote its own log and model beside the others
    assert (tmp_path / "runs" / "tiny-seed1.log").read_text().strip()
    assert (tmp_path / "runs" / "tiny_sst-20.0-seed0" / "model.safetensors").is_file()
    table = (tmp_path / "RESULTS.md").read_text()
    assert any(line.startswith("| tiny (test) | 2 |") for line in table.splitlines())
    assert "2 runs at once" in table.splitlines()[table.splitlines().index("<!-- benchmark_accuracy:start -->") + 2]

    # the seed ensemble lever reads these models: each seed scores as its run logged, the ensemble beside them
    ensembles = load_script("lever_ensembles")
    assert ensembles.main(["--data-root", str(data_root), "--datasets", "tiny", "tiny_sst@20.0", "--runs",
                           str(tmp_path / "runs"), "--results", str(tmp_path / "RESULTS.md")]) == 0
    row = next(line for line in (tmp_path / "RESULTS.md").read_text().splitlines() if line.startswith("| tiny |"))
    logged = sorted(100 * run["accuracy"] for run in runs if run["dataset"] == "tiny")
    assert f"| {statistics.mean(logged):.2f} |" in row and "| accuracy | 2 |" in row

    # everything is in the logs for this code: a resumed run trains nothing and the table stays the same
    assert bench.main([*argv[:-7], "--resume"]) == 0
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 4
    assert len((tmp_path / "baselines.jsonl").read_text().splitlines()) == 2
    # another version of textrnn: nothing is skipped, and uncommitted changes are never resumed from
    everything = {("tiny", "baselines", ("tfidf",)), ("tiny", "textrnn", 0), ("tiny", "textrnn", 1)}
    resume = bench.parse_args(["--resume", "--baselines", "tfidf", "--seeds", "0", "1"])
    def planned(args, code):
        return {(name, kind, tuple(what) if isinstance(what, list) else what)
                for name, kind, what in bench.plan_tasks(["tiny"], args, code)}

    for code in ("fedcba987654", "0123456789ab+changes"):
        assert planned(resume, code) == everything
    # unless the earlier version is declared the same as this one: then its runs count, in the table too
    same = bench.parse_args(["--resume", "--baselines", "tfidf", "--seeds", "0", "1", "--same-as", "0123456789ab"])
    assert planned(same, "fedcba987654") == set()
    assert [len(row["runs"]) for row in bench.rows_from_log(["tiny"], data_root,
                                                            counts=bench.counted_runs("fedcba987654"))] == [0]
    assert [len(row["runs"]) for row in bench.rows_from_log(
        ["tiny"], data_root, counts=bench.counted_runs("fedcba987654", ["0123456789ab"]))] == [2]
    # ... except on a set the change altered (--changed): there only this code's runs count, the baselines still do
    altered = bench.parse_args(["--resume", "--baselines", "tfidf", "--seeds", "0", "1", "--same-as", "0123456789ab",
                                "--changed", "ti*"])
    assert planned(altered, "fedcba987654") == {("tiny", "textrnn", 0), ("tiny", "textrnn", 1)}
    assert [len(row["runs"]) for row in bench.rows_from_log(
        ["tiny"], data_root, counts=bench.counted_runs("fedcba987654", ["0123456789ab"], ["ti*"]))] == [0]


def test_a_failed_training_is_reported_and_the_others_still_run(bench, data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "RUN_LOG", tmp_path / "runs.jsonl")
    monkeypatch.setattr(bench, "BASELINE_LOG", tmp_path / "baselines.jsonl")
    code = bench.main(["--data-root", str(data_root), "--datasets", "tiny", "--seeds", "0", "--baselines", "tfidf",
                       "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "RESULTS.md"),
                       "--", "--no-such-flag"])
    assert code == 1
    assert "--no-such-flag" in (tmp_path / "runs" / "tiny-seed0.log").read_text()
    assert not (tmp_path / "runs.jsonl").exists()
    assert len((tmp_path / "baselines.jsonl").read_text().splitlines()) == 1


def test_all_is_every_full_set_with_its_named_label_columns_and_every_cut(bench, data_root, monkeypatch):
    monkeypatch.setattr(bench, "CUTS", (("tiny", (10, 20)), ("tiny:category", (10,))))
    names = bench.chosen_names(bench.parse_args(["--all", "--draws", "1"]), data_root)
    assert names == ["tiny", "tiny_sst", "tiny:category", "tiny@10.0", "tiny@20.0", "tiny:category@10.0"]
    assert bench.chosen_names(bench.parse_args(["--cuts", "--draws", "1"]), data_root) == names[3:]
    assert bench.chosen_names(bench.parse_args(["--datasets", "tiny_sst", "--cuts", "--draws", "1"]), data_root) \
        == ["tiny_sst", *names[3:]]


def test_a_quick_copy_keeps_only_texts_whose_labels_its_train_split_has(bench, tmp_path):
    import types

    from datasets import Dataset

    train = Dataset.from_dict({"text": [f"t{i}" for i in range(3000)], "label": [[i % 2] for i in range(3000)]})
    validation = Dataset.from_dict({"text": ["a", "b", "c"], "label": [[0], [1, 2], [1]]})
    data = types.SimpleNamespace(train=train, validation=validation, test=validation)
    folder = bench.quick_copy(data, tmp_path / "quick")
    assert len(Dataset.from_parquet(str(folder / "train.parquet"))) == 2000
    for name in ("validation", "test"):
        assert sorted(Dataset.from_parquet(str(folder / f"{name}.parquet"))["text"]) == ["a", "c"]
