"""Chinese text end to end: auto picks a tokenizer for it and says why; a forced word tokenizer warns."""

import json
import random

import pytest
from helpers import TINY_MODEL, write_csv

import textrnn
from textrnn.cli import main

GOOD = ["很好", "不错", "满意", "喜欢", "推荐", "好评"]
BAD = ["太差", "失望", "垃圾", "退货", "难用", "差评"]
FILLER = ["这个", "手机", "电池", "物流", "包装", "客服", "质量", "价格", "屏幕", "东西", "用了", "两天"]


def chinese_rows(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = "正面" if i % 2 == 0 else "负面"
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 6))]
        words.insert(rng.randint(0, len(words)), rng.choice(GOOD if label == "正面" else BAD))
        rows.append(("".join(words) + rng.choice(["！", "。", "，iPhone 12", " 😀"]), label))
    return rows


@pytest.fixture(scope="module")
def chinese_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("zh")
    return {"train": write_csv(root / "train.csv", chinese_rows(400, seed=1)),
            "test": write_csv(root / "test.csv", chinese_rows(100, seed=2))}


def test_auto_reads_chinese_with_its_own_tokenizer_and_records_why(chinese_files, tmp_path, capsys):
    output = tmp_path / "run"
    # 400 texts are too few to learn subwords from: auto reads each character as a token
    assert main(["train", "--train-file", str(chinese_files["train"]), "--test-file", str(chinese_files["test"]),
                 "--output", str(output), "--epochs", "4", *TINY_MODEL]) == 0
    log = capsys.readouterr().out
    assert "tokenizer: char (" in log and "written without spaces (Han" in log and "too few" in log
    choice = json.loads((output / "config.json").read_text())["tokenizer_choice"]
    assert choice["asked"] == "auto" and choice["kind"] == "char" and "Han" in choice["reason"]
    assert "- Tokenizer: char (" in (output / "eval_report.md").read_text()
    assert json.loads((output / "eval_report.json").read_text())["accuracy"] > 0.9
    result = textrnn.classify_text("质量很好，推荐", textrnn.load(output))
    assert result["label"] == "正面"


def test_a_forced_word_tokenizer_on_chinese_warns_about_unknown_tokens(chinese_files, tmp_path, capsys):
    assert main(["train", "--train-file", str(chinese_files["train"]), "--output", str(tmp_path / "run"),
                 "--epochs", "1", "--tokenizer", "word", *TINY_MODEL]) == 0
    log = capsys.readouterr().out
    warning = next(line for line in log.splitlines() if line.startswith("warning:"))
    assert "of the validation tokens are [UNK]" in warning and "try --tokenizer char" in warning
