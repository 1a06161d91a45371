import pytest

from textrnn.config import DOCUMENT_WORDS, PARAGRAPH_WORDS, PRESETS, TrainConfig, choose_preset

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
