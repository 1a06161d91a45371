import hashlib
import json
import pickle
import shutil

import pytest
import safetensors.torch
import torch

from textrnn.batching import collate
from textrnn.checkpoint import FORMAT_VERSION, load_model_dir, save_model_dir, update_config
from textrnn.errors import ModelDirError
from textrnn.model import ModelConfig, RNNClassifier
from textrnn.tokenizer import TokenizerConfig, encode_batch, train_tokenizer
from textrnn.training.checkpoints import load_training_state, save_training_state

TEXTS = ["a fine film", "a poor film", "fine acting", "poor plot and poor acting"]


@pytest.fixture
def model_dir(tmp_path):
    tokenizer = train_tokenizer(TEXTS, TokenizerConfig(min_freq=1))
    torch.manual_seed(0)
    model = RNNClassifier(ModelConfig(vocab_size=tokenizer.get_vocab_size(), num_classes=2, embedding_dim=8,
                                      hidden_dim=8, cell="gru"))
    save_model_dir(tmp_path / "model", model, tokenizer, TokenizerConfig(min_freq=1), ["neg", "pos"])
    return tmp_path / "model", model, tokenizer


def logits_of(model, tokenizer):
    batch = collate(encode_batch(tokenizer, TEXTS))
    with torch.no_grad():
        return model.eval()(batch["ids"], batch["lengths"])


def test_save_then_load_gives_identical_logits(model_dir):
    directory, model, tokenizer = model_dir
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    loaded, loaded_tokenizer, config = load_model_dir(directory)
    assert config["labels"] == ["neg", "pos"] and config["model"]["cell"] == "gru"
    assert torch.equal(logits_of(loaded, loaded_tokenizer), logits_of(model, tokenizer))


def test_a_missing_file_is_named(model_dir):
    directory = model_dir[0]
    (directory / "tokenizer.json").unlink()
    with pytest.raises(ModelDirError, match="missing tokenizer.json"):
        load_model_dir(directory)


def test_truncated_weights_are_reported(model_dir):
    path = model_dir[0] / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ModelDirError, match="model.safetensors: cannot read the weights"):
        load_model_dir(model_dir[0])


@pytest.mark.parametrize("change,message", [
    (lambda c: c["model"].update(vocab_size=c["model"]["vocab_size"] + 1), "tokens but config.json says vocab_size"),
    (lambda c: c.update(labels=["a", "b", "c"]), "3 labels for 2 classes"),
    (lambda c: c["model"].update(hidden_dim=9), "does not match config.json"),
    (lambda c: c["model"].update(cell="lstm"), "does not match config.json"),
    (lambda c: c.update(format_version=FORMAT_VERSION + 1), "newer than this textrnn"),
    (lambda c: c["model"].update(cell="transformer"), "model.cell must be one of 'rnn', 'lstm', 'gru'"),
    # 180 TB of embeddings: refused by config.json's bounds, before anything is built
    (lambda c: c["model"].update(embedding_dim=10**12), "model.embedding_dim must be an integer from 1 to 65,536"),
    # the largest width the bounds allow, and 64 layers of it: refused by comparing shapes on the meta device
    (lambda c: c["model"].update(embedding_dim=2**16, hidden_dim=2**16, num_layers=64),
     r"does not match config.json \(gru, 64 layer\(s\)\)"),
])
def test_a_config_that_disagrees_is_reported(model_dir, change, message):
    path = model_dir[0] / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))
    with pytest.raises(ModelDirError, match=message):
        load_model_dir(model_dir[0])


def test_training_state_round_trips(model_dir, tmp_path):
    directory, model, _ = model_dir
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 ** step)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    batch = collate([[2, 3], [4]], labels=[0, 1])
    torch.nn.functional.cross_entropy(model.train()(batch["ids"], batch["lengths"]), batch["labels"]).backward()
    optimizer.step()
    scheduler.step()
    save_training_state(directory, model, optimizer, scheduler, scaler, {"epoch": 3, "history": [{"epoch": 3}]})
    expected_random = torch.rand(3)

    copy = shutil.copytree(directory, tmp_path / "copy")
    fresh = RNNClassifier(model.config)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=0.01)
    fresh_scheduler = torch.optim.lr_scheduler.LambdaLR(fresh_optimizer, lambda step: 0.5 ** step)
    state = load_training_state(copy, fresh, fresh_optimizer, fresh_scheduler, scaler)
    assert state == {"epoch": 3, "history": [{"epoch": 3}]}
    assert torch.equal(torch.rand(3), expected_random)  # the RNG continues where it was saved
    for name, tensor in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor)
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()
    for key, value in optimizer.state_dict()["state"][0].items():
        assert torch.equal(torch.as_tensor(fresh_optimizer.state_dict()["state"][0][key]), torch.as_tensor(value))


class Planted:
    """Unpickling this creates `path`: what a hostile pytorch_model.bin could do (run any code)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def plant_code(directory, marker):
    payload = pickle.dumps(Planted(marker))
    for name in ("pytorch_model.bin", "model.pt", "training_args.pkl"):
        (directory / name).write_bytes(payload)
    for name in ("__init__.py", "modeling.py"):
        (directory / name).write_text(f"open({str(marker)!r}, 'w')\n")
    return payload


def test_planted_pickles_and_python_files_are_never_run(model_dir, tmp_path):
    directory, model, tokenizer = model_dir
    marker = tmp_path / "code-ran"
    payload = plant_code(directory, marker)
    pickle.loads(payload)  # the plant is live: unpickling it does create the marker
    assert marker.exists()
    marker.unlink()

    loaded, loaded_tokenizer, _ = load_model_dir(directory)
    assert torch.equal(logits_of(loaded, loaded_tokenizer), logits_of(model, tokenizer))
    (directory / "model.safetensors").unlink()  # a pickle standing in for the weights is named, not read
    with pytest.raises(ModelDirError, match="missing model.safetensors .*; model.pt, pytorch_model.bin, "
                                            "training_args.pkl are not read: pickle files can run code"):
        load_model_dir(directory)
    (directory / "model.safetensors").write_bytes(payload)  # a pickle under the safetensors name
    with pytest.raises(ModelDirError, match="model.safetensors: cannot read the weights"):
        load_model_dir(directory)
    assert not marker.exists()


def rewrite_weights(directory, change):
    path = directory / "model.safetensors"
    weights = safetensors.torch.load_file(path)
    change(weights)
    safetensors.torch.save_file(weights, path)


@pytest.mark.parametrize("change,message", [
    (lambda w: w["head.bias"].fill_(float("nan")), "model.safetensors: head.bias holds NaN or infinite values"),
    (lambda w: w["rnn.weight_hh_l0"].fill_(float("inf")), "rnn.weight_hh_l0 holds NaN or infinite values"),
    (lambda w: w.update({"head.bias": torch.zeros(2, dtype=torch.int64)}), "head.bias holds torch.int64, not floating"),
    (lambda w: w.update({"head.bias": torch.zeros(3)}), r"head.bias has shape \[3\], the config implies \[2\]"),
    (lambda w: w.pop("head.bias"), r"missing tensors \['head.bias'\]"),
    (lambda w: w.update({"extra": torch.zeros(1)}), r"unexpected tensors \['extra'\]"),
])
def test_weights_that_disagree_or_are_not_finite_are_named(model_dir, change, message):
    rewrite_weights(model_dir[0], change)
    with pytest.raises(ModelDirError, match=message):
        load_model_dir(model_dir[0])


@pytest.mark.parametrize("text,message", [
    ("[" * 100_000 + "]" * 100_000, "cannot read the model config: RecursionError"),
    ("not json", "cannot read the model config: JSONDecodeError"),
    ('{"format": "pickle"}', "not a textrnn model config"),
])
def test_a_config_json_that_is_not_one_is_named(model_dir, text, message):
    (model_dir[0] / "config.json").write_text(text)
    with pytest.raises(ModelDirError, match=message):
        load_model_dir(model_dir[0])


@pytest.mark.parametrize("labels,message", [
    ([0, 1], "labels must be distinct strings"),
    (["pos", "pos"], "labels must be distinct strings"),
    ("neg,pos", "no labels for 2 classes"),
])
def test_labels_in_config_json_must_be_distinct_strings(model_dir, labels, message):
    path = model_dir[0] / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "labels": labels}))
    with pytest.raises(ModelDirError, match=message):
        load_model_dir(model_dir[0])


def forget_tokenizer_digest(directory):
    """config.json as a textrnn before the tokenizer's digest wrote it."""
    path = directory / "config.json"
    config = json.loads(path.read_text())
    del config["tokenizer_sha256"]
    path.write_text(json.dumps(config))


def test_a_tokenizer_json_that_does_not_fit_is_named(model_dir):
    forget_tokenizer_digest(model_dir[0])  # without it, the tokenizer's own checks name the problem
    path = model_dir[0] / "tokenizer.json"
    tokenizer = json.loads(path.read_text())
    vocab = tokenizer["model"]["vocab"]
    vocab["[PAD]"], vocab["[UNK]"] = vocab["[UNK]"], vocab["[PAD]"]
    path.write_text(json.dumps(tokenizer))
    with pytest.raises(ModelDirError, match=r"tokenizer.json: cannot load the tokenizer: .*\[PAD\] must have id 0"):
        load_model_dir(model_dir[0])
    path.write_text(path.read_text()[:100])
    with pytest.raises(ModelDirError, match="tokenizer.json: cannot load the tokenizer"):
        load_model_dir(model_dir[0])


def shuffle_vocabulary(directory):
    """tokenizer.json with the same tokens, specials in place, the others' ids exchanged: it loads, it has the
    right size, and every word reads as another."""
    path = directory / "tokenizer.json"
    tokenizer = json.loads(path.read_text())
    vocab = tokenizer["model"]["vocab"]
    words = sorted((token for token in vocab if token not in ("[PAD]", "[UNK]")), key=vocab.get)
    ids = [vocab[word] for word in words]
    vocab.update(zip(words, ids[1:] + ids[:1]))
    path.write_text(json.dumps(tokenizer))


def test_a_tokenizer_json_that_is_not_the_trained_one_is_refused(model_dir):
    directory = model_dir[0]
    shuffle_vocabulary(directory)
    with pytest.raises(ModelDirError, match="tokenizer.json is not the tokenizer the weights were trained with"):
        load_model_dir(directory)


def test_a_directory_without_the_digest_loads_as_before(model_dir):
    directory, model, tokenizer = model_dir
    forget_tokenizer_digest(directory)
    loaded, loaded_tokenizer, config = load_model_dir(directory)
    assert "tokenizer_sha256" not in config
    assert torch.equal(logits_of(loaded, loaded_tokenizer), logits_of(model, tokenizer))


def test_the_digest_is_of_the_tokenizer_json_as_written_and_update_config_keeps_it(model_dir):
    directory = model_dir[0]
    written = hashlib.sha256((directory / "tokenizer.json").read_bytes()).hexdigest()
    assert json.loads((directory / "config.json").read_text())["tokenizer_sha256"] == written
    update_config(directory, thresholds=[0.4, 0.6], global_threshold=0.5)
    config = load_model_dir(directory)[2]
    assert config["tokenizer_sha256"] == written and config["thresholds"] == [0.4, 0.6]


def rewrite_config(directory, change):
    path = directory / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))  # NaN and Infinity as JSON's extension writes them, which json reads


@pytest.mark.parametrize("change,message", [
    (lambda c: c["model"].update(hidden_dim=32.0), r"model.hidden_dim must be an integer from 1 to 65,536, got 32.0"),
    (lambda c: c["model"].update(hidden_dim=1e9), "model.hidden_dim must be an integer"),
    (lambda c: c["model"].update(num_layers=True), r"model.num_layers must be an integer .*got True \(bool\)"),
    (lambda c: c["model"].update(vocab_size=2**70), "model.vocab_size must be an integer"),
    (lambda c: c["model"].update(bidirectional="yes"), "model.bidirectional must be true or false, got 'yes'"),
    (lambda c: c["model"].update(pooling=5), "model.pooling must be one of last, mean, max"),
    (lambda c: c["model"].update(pooling="max+"), "model.pooling must be one of"),
    (lambda c: c["model"].update(dropout=float("nan")), r"model.dropout must be a number in \[0, 1\), got nan"),
    (lambda c: c["model"].update(pad_id=1_000_000), "model.pad_id 1000000 is not below model.vocab_size"),
    (lambda c: c["model"].update(pad_id=-1), "model.pad_id must be an integer from 0"),
    (lambda c: c["model"].update(heads=8), "model.heads is not a setting textrnn knows"),
    (lambda c: c["model"].pop("num_classes"), "model.num_classes is missing"),
    (lambda c: c.update(model=[1, 2]), "model must be an object of settings"),
    (lambda c: c["tokenizer"].update(max_length=2**70), "tokenizer.max_length must be an integer from 1 to"),
    (lambda c: c["tokenizer"].update(kind=None), "tokenizer.kind must be one of 'word', 'char', 'bpe', 'unigram'"),
    (lambda c: c["tokenizer"].update(truncation="tail"), "tokenizer.truncation must be one of 'head', 'head\\+tail'"),
    (lambda c: c["tokenizer"].update(lowercase=1), "tokenizer.lowercase must be true or false"),
    (lambda c: c.update(problem_type="both"), "problem_type must be one of 'single', 'multi'"),
    (lambda c: c.update(thresholds="abc"), "thresholds must be a list of numbers in"),
    (lambda c: c.update(thresholds=[0.5]), "thresholds has 1 numbers for 2 labels"),
    (lambda c: c.update(thresholds=[0.5, 1.5]), "thresholds must be a list of numbers in"),
    (lambda c: c.update(thresholds=[0.5, float("inf")]), "thresholds must be a list of numbers in"),
    (lambda c: c.update(global_threshold=-0.1), r"global_threshold must be a number in \[0, 1\]"),
    (lambda c: c.update(label_columns="a,b"), "label_columns must be a list of strings"),
    (lambda c: c.update(temperature=1e-300), r"temperature must be a number in \[0.05, 50\]"),
    (lambda c: c.update(temperature=float("nan")), r"temperature must be a number in \[0.05, 50\]"),
    (lambda c: c.update(temperature=[1.0, 1.0]), "temperature must be one number for problem_type 'single'"),
    (lambda c: c.update(problem_type="multi", temperature=[1.0]),
     r"temperature must be a list of 2 numbers \(one per label\) for problem_type 'multi'"),
    (lambda c: c.update(format_version=True), "format_version must be an integer from 1, got True"),
    (lambda c: c.update(tokenizer_sha256="abc"), "tokenizer_sha256 must be a sha256 digest"),
])
def test_every_config_field_is_checked_for_type_and_range(model_dir, change, message):
    rewrite_config(model_dir[0], change)
    with pytest.raises(ModelDirError, match=rf"config.json: {message}"):
        load_model_dir(model_dir[0])


def test_an_integer_of_more_digits_than_python_reads_is_named(model_dir):
    path = model_dir[0] / "config.json"
    path.write_text(path.read_text().replace('"hidden_dim": 8', '"hidden_dim": 1' + "0" * 5000))
    with pytest.raises(ModelDirError, match="cannot read the model config: ValueError"):
        load_model_dir(model_dir[0])


def test_a_bad_field_is_a_one_line_error_from_the_command_line(model_dir, capsys):
    from textrnn.cli import main

    rewrite_config(model_dir[0], lambda c: c["model"].update(hidden_dim=32.0))
    assert main(["predict", str(model_dir[0]), "a fine film"]) == 2
    assert "model.hidden_dim must be an integer" in capsys.readouterr().err


def test_the_schema_covers_every_setting_of_the_model_the_tokenizer_and_the_tasks():
    from dataclasses import MISSING, fields

    from textrnn import checkpoint
    from textrnn.tasks import TASKS

    assert set(checkpoint.MODEL_FIELDS) == {field.name for field in fields(ModelConfig)}
    assert set(checkpoint.TOKENIZER_FIELDS) == {field.name for field in fields(TokenizerConfig)}
    required = {field.name for field in fields(ModelConfig) if field.default is MISSING}
    assert set(checkpoint.REQUIRED_MODEL_FIELDS) == required
    assert set(checkpoint.PROBLEM_TYPES) == set(TASKS) == set(checkpoint.TEMPERATURE_PER_LABEL)
