import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textrnn.tokenizer import (
    PAD_ID,
    UNK_ID,
    TokenizerConfig,
    encode_batch,
    load_tokenizer,
    read_word_vectors,
    save_tokenizer,
    train_tokenizer,
)

CORPUS = ["A good film.<br /><br />A GOOD cast!", "A bad film, a bad plot.", "Ｇｏｏｄ ｆｉｌｍ"] * 3


def test_word_level_normalises_and_splits_punctuation():
    tokenizer = train_tokenizer(CORPUS, TokenizerConfig(min_freq=1))
    tokens = tokenizer.encode("A GOOD film<BR/>bad!").tokens
    assert tokens == ["a", "good", "film", "bad", "!"]  # lowercase, <br> gone, NFKC folds the full-width text too
    assert tokenizer.token_to_id("[PAD]") == PAD_ID and tokenizer.token_to_id("[UNK]") == UNK_ID


def test_vocabulary_respects_min_freq_and_vocab_size():
    tokenizer = train_tokenizer(["common rare", "common", "common other"], TokenizerConfig(min_freq=2))
    assert set(tokenizer.get_vocab()) == {"[PAD]", "[UNK]", "common"}
    capped = train_tokenizer(CORPUS, TokenizerConfig(min_freq=1, vocab_size=4))
    assert capped.get_vocab_size() == 4


def test_unknown_words_and_empty_texts_become_unk():
    tokenizer = train_tokenizer(CORPUS, TokenizerConfig(min_freq=1))
    assert encode_batch(tokenizer, ["good zebra", "", "   \n"]) == [[tokenizer.token_to_id("good"), UNK_ID], [UNK_ID],
                                                                   [UNK_ID]]


def test_truncation_to_max_length():
    tokenizer = train_tokenizer(CORPUS, TokenizerConfig(min_freq=1, max_length=3))
    assert [len(ids) for ids in encode_batch(tokenizer, ["a good film , a bad plot", "film"])] == [3, 1]


def test_head_and_tail_truncation_keeps_both_ends():
    config = TokenizerConfig(min_freq=1, max_length=8, truncation="head+tail")
    tokenizer = train_tokenizer([" ".join(f"w{i}" for i in range(20))], config)
    long_text, short_text = " ".join(f"w{i}" for i in range(20)), "w3 w4"
    long_ids, short_ids = encode_batch(tokenizer, [long_text, short_text], config)
    tokens = [tokenizer.id_to_token(i) for i in long_ids]
    assert tokens == ["w0", "w1", "w14", "w15", "w16", "w17", "w18", "w19"]  # a quarter from the start, the rest from the end
    assert [tokenizer.id_to_token(i) for i in short_ids] == ["w3", "w4"]


def test_bpe_tokenizer_round_trips_through_a_file(tmp_path):
    tokenizer = train_tokenizer(CORPUS, TokenizerConfig(kind="bpe", vocab_size=60, min_freq=1))
    save_tokenizer(tokenizer, tmp_path / "tokenizer.json")
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    texts = ["a goodly film", "unseen words here"]
    assert encode_batch(loaded, texts) == encode_batch(tokenizer, texts)
    assert len(encode_batch(loaded, ["goodness"])[0]) > 1  # split into subwords, not one [UNK]


@pytest.mark.parametrize("settings,message", [
    ({"kind": "sentencepiece"}, "word, bpe"),
    ({"vocab_size": 2}, "vocab_size"),
    ({"min_freq": 0}, "min_freq"),
    ({"max_length": 0}, "max_length"),
    ({"truncation": "middle"}, "head, head\\+tail"),
])
def test_invalid_settings_are_rejected(settings, message):
    with pytest.raises(ValueError, match=message):
        TokenizerConfig(**settings)


def test_read_word_vectors_handles_headers_case_and_misses(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("3 2\ngood 1 2\nFilm 3 4\nabsent 5 6\n")
    vectors, found = read_word_vectors(path, {"[PAD]": 0, "good": 1, "film": 2, "bad": 3}, dim=2)
    assert found.tolist() == [False, True, True, False]
    assert vectors[1].tolist() == [1, 2] and vectors[2].tolist() == [3, 4]


def test_read_word_vectors_rejects_the_wrong_dimension(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("good 1 2 3\n")
    with pytest.raises(ValueError, match="line 1: 3 values.*dimension is 2"):
        read_word_vectors(path, {"good": 0}, dim=2)


TOKENIZERS = {kind: train_tokenizer(CORPUS, TokenizerConfig(kind=kind, vocab_size=60, min_freq=1, max_length=8))
              for kind in ("word", "bpe")}


@pytest.mark.parametrize("kind", TOKENIZERS)
@settings(max_examples=150, deadline=None)
@given(texts=st.lists(st.text(), min_size=1, max_size=5))
def test_any_unicode_text_encodes_to_valid_ids_alone_or_in_a_batch(kind, texts):
    tokenizer = TOKENIZERS[kind]
    encoded = encode_batch(tokenizer, texts)
    assert len(encoded) == len(texts)
    for ids in encoded:
        assert 1 <= len(ids) <= 8  # never empty (the model needs a step), never past max_length
        assert all(0 <= i < tokenizer.get_vocab_size() for i in ids) and PAD_ID not in ids
    assert encoded == [encode_batch(tokenizer, [text])[0] for text in texts]
