"""Shared fixtures: a small synthetic sentiment data set that a tiny model learns in seconds."""

import os
import shutil
import tempfile

import pytest

from helpers import TINY_MODEL, make_texts, write_csv

# Keep the datasets cache of the files the tests write out of the user's ~/.cache (read at datasets' import).
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="textrnn-tests-hf-")


@pytest.fixture(scope="session", autouse=True)
def remove_datasets_cache():
    yield
    shutil.rmtree(os.environ["HF_DATASETS_CACHE"], ignore_errors=True)


@pytest.fixture(scope="session")
def sentiment_files(tmp_path_factory):
    """train.csv (600 rows) and test.csv (200 rows) with string labels pos/neg."""
    root = tmp_path_factory.mktemp("sentiment")
    return {
        "train": write_csv(root / "train.csv", make_texts(600, seed=1)),
        "test": write_csv(root / "test.csv", make_texts(200, seed=2)),
    }


@pytest.fixture(scope="session")
def trained_run(sentiment_files, tmp_path_factory):
    """One tiny model trained through the command line, shared by the tests that only read it."""
    from textrnn.cli import main

    output = tmp_path_factory.mktemp("runs") / "sentiment"
    code = main(["train", "--train-file", str(sentiment_files["train"]), "--test-file", str(sentiment_files["test"]),
                 "--output", str(output), "--epochs", "4", "--seed", "0", *TINY_MODEL])
    assert code == 0
    return output
