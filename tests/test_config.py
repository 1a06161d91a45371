import pytest

from textrnn.config import LONG_TEXT_WORDS, PRESETS, TrainConfig, choose_preset

SHORT_TEXTS = ["a fine film"] * 50
LONG_TEXTS = [" ".join(["word"] * (LONG_TEXT_WORDS + 20))] * 50


def test_auto_preset_follows_the_texts_length():
    assert choose_preset(SHORT_TEXTS) == "short"
    assert choose_preset(LONG_TEXTS) == "long"
    assert choose_preset(SHORT_TEXTS * 3 + LONG_TEXTS) == "short"  # the median, not the mean


def test_unset_settings_come_from_the_preset_and_given_ones_win():
    config = TrainConfig(hidden_dim=64).resolve(LONG_TEXTS)
    assert config.preset == "long" and config.is_resolved
    assert config.hidden_dim == 64
    assert all(getattr(config, name) == value for name, value in PRESETS["long"].items() if name != "hidden_dim")
    forced = TrainConfig(preset="short").resolve(LONG_TEXTS)
    assert forced.preset == "short" and forced.max_length == PRESETS["short"]["max_length"]


def test_a_resolved_config_is_validated_whole():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        TrainConfig(preset="huge")
    with pytest.raises(ValueError, match="unknown pooling"):
        TrainConfig(pooling="median").resolve(SHORT_TEXTS)
    with pytest.raises(ValueError, match="1-layer bidirectional"):
        TrainConfig(num_layers=2, pretrain_epochs=1).resolve(SHORT_TEXTS)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        TrainConfig(epochs=0)
