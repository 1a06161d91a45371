import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textrnn.tokenizer import (
    PAD_ID,
    UNK_ID,
    UNSPACED_KIND,
    UNSPACED_SUBWORD_TEXTS,
    TokenizerConfig,
    choose_kind,
    encode_batch,
    load_tokenizer,
    read_word_vectors,
    save_tokenizer,
    train_tokenizer,
    unknown_share,
    unknown_warning,
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
    ({"kind": "sentencepiece"}, "word, char, bpe, unigram"),
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


@pytest.mark.parametrize("kind", ["word", "char", "bpe", "unigram"])
def test_text_that_spells_a_special_token_is_read_as_text(kind, tmp_path):
    # The example Hypothesis found: "[PAD]" in a review became the padding id 0, "[UNK]" the unknown id
    tokenizer = train_tokenizer(CORPUS * 3, TokenizerConfig(kind=kind, vocab_size=80, min_freq=1))
    save_tokenizer(tokenizer, tmp_path / "tokenizer.json")
    for loaded in (tokenizer, load_tokenizer(tmp_path / "tokenizer.json")):
        ids = encode_batch(loaded, ["a dull [PAD] mess", "[PAD]", "[UNK] [pad]"])
        assert all(PAD_ID not in row for row in ids)
        assert "[PAD]" not in loaded.encode("a dull [PAD] mess").tokens


# ----------------------------------------------------------------------------- scripts written without spaces

CHINESE = ["这个手机很好用，电池也很耐用！", "质量太差了，用了两天就坏了", "物流很快，包装也不错，好评", "不推荐购买，客服态度很差"] * 3
JAPANESE = ["この映画はとても面白かったです", "つまらない話で退屈でした", "俳優の演技が素晴らしい"] * 3
THAI = ["อาหารอร่อยมากครับ", "บริการแย่มาก ไม่ประทับใจ", "ราคาถูกและคุณภาพดี"] * 3


@pytest.mark.parametrize("texts, script", [(CHINESE, "Han"), (JAPANESE, "Hiragana"), (THAI, "Thai")])
def test_auto_picks_a_character_tokenizer_for_unspaced_scripts_and_says_why(texts, script):
    kind, reason = choose_kind(texts)  # a handful of texts: characters, too few to learn subwords from
    assert kind == "char" and script in reason and "written without spaces" in reason and "too few" in reason


def test_auto_learns_subwords_of_unspaced_scripts_from_enough_texts():
    many = CHINESE * (UNSPACED_SUBWORD_TEXTS // len(CHINESE) + 1)
    kind, reason = choose_kind(many)
    assert kind == UNSPACED_KIND and "Han" in reason and "subwords" in reason
    assert choose_kind(many[: UNSPACED_SUBWORD_TEXTS - 1])[0] == "char"


def test_auto_keeps_words_for_english_with_a_few_chinese_words():
    texts = ["a great phone, better than the one I bought in 北京 last year"] * 5 + CORPUS
    assert choose_kind(texts)[0] == "word"


@pytest.mark.parametrize("texts", [CHINESE, JAPANESE, THAI])
def test_unseen_clauses_are_known_to_the_char_and_subword_tokenizers_but_not_to_word(texts):
    unseen = {"这个电池很差": CHINESE, "とても退屈": JAPANESE, "อร่อยมาก": THAI}
    text = next(key for key, corpus in unseen.items() if corpus is texts)
    word = train_tokenizer(texts, TokenizerConfig(kind="word", min_freq=1))
    assert encode_batch(word, [text]) == [[UNK_ID]]  # the whole clause is one unseen "word"
    for kind in ("char", "unigram"):
        tokenizer = train_tokenizer(texts, TokenizerConfig(kind=kind, min_freq=1, vocab_size=200))
        ids = encode_batch(tokenizer, [text])[0]
        assert UNK_ID not in ids and len(ids) > 1


def test_mixed_text_keeps_latin_words_digits_emoji_and_urls_whole():
    texts = ["这个iPhone 12很好用😀 见 https://example.com/a", *CHINESE]
    tokenizer = train_tokenizer(texts, TokenizerConfig(kind="char", min_freq=1))
    tokens = tokenizer.encode(texts[0]).tokens
    assert tokens[:6] == ["这", "个", "iphone", "12", "很", "好"]
    assert "😀" in tokens and "example" in tokens and "https" in tokens
    # nothing is dropped: the tokens cover every non-space character of the (normalised) text
    normalised = tokenizer.normalizer.normalize_str(texts[0])
    assert "".join(tokens) == "".join(normalised.split())


def test_unknown_share_warns_with_the_cause_and_the_flag_to_try():
    word = train_tokenizer(CHINESE, TokenizerConfig(kind="word", min_freq=1))
    unseen = ["电池很好，客服很差", "包装不错但是物流太慢"]
    ids = np.concatenate([np.asarray(seq) for seq in encode_batch(word, unseen)])
    share = unknown_share(ids)
    assert share == 0.75  # the three clauses; only the comma between two of them is known
    warning = unknown_warning(share, "word", unseen)
    assert "[UNK]" in warning and "--tokenizer char" in warning and "Han" in warning
    assert unknown_warning(0.05, "word", unseen) is None
    english = unknown_warning(0.4, "word", ["zxq wvv"])
    assert "--tokenizer bpe or unigram" in english


def test_a_saved_char_tokenizer_tokenizes_as_it_was_trained(tmp_path):
    tokenizer = train_tokenizer(CHINESE, TokenizerConfig(kind="char", min_freq=1))
    save_tokenizer(tokenizer, tmp_path / "tokenizer.json")
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    assert encode_batch(loaded, CHINESE + ["新的句子"]) == encode_batch(tokenizer, CHINESE + ["新的句子"])
