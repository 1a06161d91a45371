import pytest

from textrnn.training.config import (DOCUMENT_MIN_EPOCHS, DOCUMENT_UPDATES, DOCUMENT_WORDS, PARAGRAPH_WORDS, PRESETS,
                                     TrainConfig, choose_preset, describe_auto_choices, document_epochs)

SHORT_TEXTS = ["a fine film"] * 50
PARAGRAPHS = [" ".join(["word"] * PARAGRAPH_WORDS)] * 50
LONG_TEXTS = [" ".join(["word"] * (DOCUMENT_WORDS + 20))] * 50


def test_auto_preset_follows_the_texts_length():
    assert choose_preset(SHORT_TEXTS) == "sentence"
    assert choose_preset(PARAGRAPHS) == "paragraph"
    assert choose_preset(LONG_TEXTS) == "document"
    assert choose_preset(SHORT_TEXTS * 3 + LONG_TEXTS) == "sentence"  # the median, not the mean


def test_every_preset_sets_the_same_settings():
    assert all(set(settings) == set(PRESETS["sentence"]) for settings in PRESETS.values())


def test_unset_settings_come_from_the_preset_and_given_ones_win():
    config = TrainConfig(hidden_dim=64).resolve(LONG_TEXTS)
    assert config.preset == "document" and config.is_resolved
    assert config.hidden_dim == 64
    assert all(getattr(config, name) == value for name, value in PRESETS["document"].items() if name != "hidden_dim")
    forced = TrainConfig(preset="sentence").resolve(LONG_TEXTS)
    assert forced.preset == "sentence" and forced.max_length == PRESETS["sentence"]["max_length"]
    assert forced.embedding_init == "svd" and forced.word_dropout == PRESETS["sentence"]["word_dropout"]


def test_the_document_presets_epochs_fall_as_the_corpus_grows_and_a_given_number_wins():
    most = PRESETS["document"]["epochs"]
    assert document_epochs(1_800, 32, most) == most  # 57 batches an epoch: every epoch of the preset
    assert document_epochs(22_500, 32, most) == 3  # IMDB's training texts: 704 batches an epoch
    assert document_epochs(10**7, 32, most) == DOCUMENT_MIN_EPOCHS
    assert document_epochs(DOCUMENT_UPDATES * 32 // 5, 32, most) == 5  # exactly the updates in 5 epochs
    large = LONG_TEXTS * 500  # 25,000 long texts
    resolved = TrainConfig().resolve(large)
    assert resolved.preset == "document" and resolved.epochs == 3
    choice = describe_auto_choices(TrainConfig(), resolved, large, "")["epochs"]
    assert choice["value"] == 3 and "25,000 training texts are 782 batches of 32" in choice["reason"]
    assert TrainConfig(epochs=7).resolve(large).epochs == 7
    assert "epochs" not in describe_auto_choices(TrainConfig(epochs=7), TrainConfig(epochs=7).resolve(large), large, "")
    # the other presets keep their epochs whatever the corpus size
    assert TrainConfig().resolve(SHORT_TEXTS * 1000).epochs == PRESETS["sentence"]["epochs"]
    assert "epochs" not in describe_auto_choices(TrainConfig(), TrainConfig().resolve(SHORT_TEXTS), SHORT_TEXTS, "")


def test_a_resolved_config_is_validated_whole():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        TrainConfig(preset="huge")
    with pytest.raises(ValueError, match="unknown pooling"):
        TrainConfig(pooling="median").resolve(SHORT_TEXTS)
    with pytest.raises(ValueError, match="1-layer bidirectional"):
        TrainConfig(num_layers=2, pretrain_epochs=1).resolve(SHORT_TEXTS)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        TrainConfig(epochs=0)


def test_a_run_saved_with_the_old_preset_names_still_reads():
    saved = TrainConfig(preset="document").resolve(LONG_TEXTS).to_dict() | {"preset": "long"}
    assert TrainConfig.from_dict(saved).preset == "document"


def test_a_word_vectors_file_wins_over_the_presets_embedding_init():
    from textrnn.errors import ConfigError

    assert all(settings["embedding_init"] == "svd" for settings in PRESETS.values())
    assert TrainConfig(embeddings="vectors.txt").resolve(SHORT_TEXTS).embedding_init == "random"
    assert TrainConfig().resolve(SHORT_TEXTS).embedding_init == "svd"
    with pytest.raises(ConfigError, match="choose one"):  # both asked for explicitly: no silent winner
        TrainConfig(embeddings="vectors.txt", embedding_init="svd")


def train_parser():
    import argparse

    from textrnn.cli import build_parser

    commands = next(action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction))
    return commands.choices["train"]


def test_every_setting_has_a_flag_with_help_and_its_modules_choices(capsys):
    from dataclasses import fields

    from textrnn.cli import main
    from textrnn.training.config import EMBEDDING_INITS, METRICS, PROBLEM_TYPES, WEIGHTINGS, flag_name
    from textrnn.model import CELLS, POOLINGS
    from textrnn.training import config

    assert config.CELLS == tuple(CELLS) and config.POOLINGS == POOLINGS  # kept apart so flags need no torch
    from textrnn.training.rundir import RESUME_CHANGEABLE
    from textrnn.tokenizer import KINDS, TRUNCATIONS

    actions = {action.dest: action for action in train_parser()._actions}
    for spec in fields(TrainConfig):
        assert flag_name(spec.name) in actions[spec.name].option_strings and actions[spec.name].help, spec.name
    choices = {"cell": tuple(CELLS), "tokenizer": ("auto", *KINDS), "truncation": TRUNCATIONS, "metric": METRICS,
               "embedding_init": EMBEDDING_INITS, "preset": ("auto", *PRESETS), "problem_type": PROBLEM_TYPES,
               "class_weight": WEIGHTINGS, "pos_weight": ("auto", *WEIGHTINGS)}
    assert {name: tuple(actions[name].choices) for name in choices} == choices
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    assert all(flag_name(spec.name) in shown for spec in fields(TrainConfig))
    assert actions["max_length"].help.endswith("default from the preset: sentence 256, paragraph 256, document 512")
    assert actions["patience"].help.endswith("(default: 3)")
    assert all(flag_name(name) in actions["resume"].help for name in RESUME_CHANGEABLE)


def test_the_parsed_flags_are_exactly_those_given_with_their_types():
    args = train_parser().parse_args(["--max-length", "64", "--lr", "1e-3", "--no-bidirectional", "--amp", "--resume",
                                      "-o", "runs/x"])
    assert vars(args) == {"max_length": 64, "lr": 1e-3, "bidirectional": False, "amp": True, "resume": "auto",
                          "output": "runs/x"}
    assert TrainConfig(**vars(args)).max_length == 64


def test_a_bad_setting_is_a_user_error_and_still_a_value_error():
    from textrnn.errors import TextRNNError

    for bad in ({"cell": "transformer"}, {"patience": 0}, {"tokenizer": "sentencepiece"}):
        with pytest.raises(TextRNNError) as caught:
            TrainConfig(**bad)
        assert isinstance(caught.value, ValueError)
    with pytest.raises(TextRNNError, match="hidden_dim must be at least 1"):  # checked by model.py, raised as ours
        TrainConfig(hidden_dim=0).resolve(SHORT_TEXTS)


def test_a_setting_that_would_have_no_effect_is_refused():
    from textrnn.errors import ConfigError

    with pytest.raises(ConfigError, match="pre-training, which is off"):
        TrainConfig(pretrain_lr=1e-3).resolve(SHORT_TEXTS)
    assert TrainConfig(pretrain_lr=1e-3, pretrain_epochs=1).resolve(SHORT_TEXTS).pretrain_lr == 1e-3
