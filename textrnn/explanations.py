"""Per-token explanations of a classifier's decision: Integrated Gradients and occlusion.

    >>> import textrnn
    >>> model = textrnn.load("runs/sst2")
    >>> textrnn.explain("a gorgeous, witty film", model)
    {'text': 'a gorgeous, witty film', 'label': 'positive', 'score': 0.98..., 'method': 'integrated_gradients',
     'target': 'probability', 'tokens': [{'token': 'a', 'start': 0, 'end': 1, 'score': 0.01...}, ...],
     'delta': 0.0003..., 'dropped': None}

Each token's score is its share of the explained label's *probability* (softmax for a single-label model,
sigmoid for a multi-label one), so the scores read in the same unit as the `score` that classify_text gives:

- integrated_gradients (any length): Integrated Gradients (Captum's LayerIntegratedGradients) on the embedding
  layer from an all-[PAD] text of the same length. The scores add up to p(text) - p(all [PAD]); `delta` is how
  far they miss that sum (Gauss-Legendre quadrature, `steps` points).
- occlusion (texts of up to MAX_OCCLUSION_TOKENS tokens): exactly p(text) - p(text without that token), all
  leave-one-out texts in one batch. `delta` is None. It needs nothing but the model's logits, so it also explains
  an exported (ONNX) model, which has no gradients for Integrated Gradients.

Without a method, a model is explained by the first of `methods_for(model)`: integrated_gradients for a PyTorch
model, occlusion for an export.

Tokens are what the model reads (the tokenizer's tokens: lowercased, NFKC-normalised, or [UNK]); `start` and
`end` are character offsets into the original text, so text[start:end] is the word as it was written. Tokens cut
by truncation (past max_length, or the middle of a head+tail text) get no score: `dropped` gives their count
and the character span they cover, or None. Explanations run on the CPU: cuDNN cannot take gradients through
an RNN in eval mode. `render_html` draws an explanation as a standalone HTML page.
"""

import copy
import html
import re
import warnings

import torch

from .batching import collate
from .errors import ConfigError, InputTypeError, TextRNNError
from .inference import TextClassifier, check_texts, load
from .tokenizer import UNK_ID, UNK_TOKEN, encode_batch

METHODS = ("integrated_gradients", "occlusion")
MAX_OCCLUSION_TOKENS = 200  # one batch of that many texts of that many tokens; IG has no such limit


def method_hint(method: str) -> str:
    """How to ask for a method, from Python and from the command line alike."""
    return f"method={method!r} (textrnn explain --method {method})"


def has_gradients(classifier: TextClassifier) -> bool:
    """A PyTorch model has them; an export run by onnxruntime does not."""
    return isinstance(classifier.model, torch.nn.Module)


def methods_for(classifier: TextClassifier) -> tuple[str, ...]:
    """The methods that can explain this model, its default first: Integrated Gradients needs the PyTorch model's
    gradients, occlusion only its logits (so it explains an exported ONNX model too)."""
    return METHODS if has_gradients(classifier) else ("occlusion",)


# What the normaliser and pre-tokenizer read as a gap between tokens: whitespace, and HTML line breaks.
GAP = re.compile(r"\s|<br\s*/?>", re.IGNORECASE)


def widen_over_merged_characters(text: str, offsets: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """HF tokenizers align a character that NFKC composed from several (e + a combining accent, Hangul jamo,
    half-width kana and a voicing mark) with the first of them only; the rest belong to no token, so to that one."""
    widened = []
    for i, (start, end) in enumerate(offsets):
        limit = max(end, offsets[i + 1][0]) if i + 1 < len(offsets) else len(text)
        while end < limit and not GAP.match(text, end):
            end += 1
        widened.append((start, end))
    return widened


def tokens_with_offsets(classifier: TextClassifier, text: str) -> tuple[list[int], list[dict], dict | None]:
    """(ids the model reads, [{token, start, end}] for them, the dropped tokens' {tokens, start, end} or None)."""
    encoding = classifier.tokenizer.encode(text, add_special_tokens=False)
    parts = [encoding, *encoding.overflowing]  # with head truncation the tokenizer cuts: its overflow holds the rest
    ids = [i for part in parts for i in part.ids]
    tokens = [token for part in parts for token in part.tokens]
    offsets = widen_over_merged_characters(text, [offset for part in parts for offset in part.offsets])
    config, dropped = classifier.tokenizer_config, None
    if len(ids) > config.max_length:  # keep what encode_batch keeps: the head, and for head+tail the tail too
        head, tail = config.head_length, len(ids) - (config.max_length - config.head_length)
        dropped = {"tokens": tail - head, "start": offsets[head][0], "end": offsets[tail - 1][1]}
        ids, tokens, offsets = (ids[:head] + ids[tail:], tokens[:head] + tokens[tail:], offsets[:head] + offsets[tail:])
    if not ids:  # no tokens at all: the model reads one [UNK], as encode_batch says; it covers no characters
        ids, tokens, offsets = [UNK_ID], [UNK_TOKEN], [(0, 0)]
    if ids != encode_batch(classifier.tokenizer, [text], config)[0]:
        raise RuntimeError("explain read other token ids than classify_text does: the two must stay in step")
    return ids, [{"token": t, "start": s, "end": e} for t, (s, e) in zip(tokens, offsets)], dropped


def integrated_gradients(classifier: TextClassifier, ids: list[int], target: int, steps: int) -> tuple[list, float]:
    """(per-token attributions to p(target), convergence delta) from an all-[PAD] baseline of the same length."""
    if not has_gradients(classifier):
        raise ConfigError("Integrated Gradients needs the PyTorch model (model.safetensors), not an export without "
                          f"gradients: explain the original model directory, or use {method_hint('occlusion')}")
    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError as error:
        raise TextRNNError(f"Integrated Gradients needs captum ({error}): pip install 'textrnn[explain]', or use "
                           f"{method_hint('occlusion')} for short texts") from None
    # Captum hooks the embedding layer while it runs, which would feed its interpolated embeddings to any other
    # thread classifying with the same model (the server does): it gets a copy of its own.
    model, task = copy.deepcopy(classifier.model).requires_grad_(False), classifier.task

    def target_probability(batch_ids, lengths):  # Captum calls it with `steps` interpolated texts at once
        return task.probabilities(model(batch_ids, lengths))[:, target]

    inputs = torch.tensor([ids])  # [1, tokens]
    lengths = torch.tensor([len(ids)])  # a fixed argument, repeated by Captum for every step
    layers = ([model.embedding] + ([model.ngram_embedding] if model.config.ngrams else [])
              + ([model.linear] if model.config.linear_share else []))
    with warnings.catch_warnings():  # "Multiple layers provided": the two are independent, as Captum asks
        warnings.simplefilter("ignore", UserWarning)
        explainer = LayerIntegratedGradients(target_probability, layers)
    attributions, delta = explainer.attribute(inputs, baselines=torch.full_like(inputs, model.config.pad_id),
                                              additional_forward_args=(lengths,), n_steps=steps,
                                              method="gausslegendre", return_convergence_delta=True)
    per_token = attributions[0].sum(dim=2)[0]  # [1, tokens, emb] -> [tokens]
    if model.config.ngrams:
        per_token = per_token + spread_over_tokens(attributions[1].sum(dim=2)[0], len(ids), model.config.ngrams)
    if model.config.linear_share:
        per_gram = linear_scores_by_position(model, inputs, lengths, attributions[-1].sum(dim=2)[0])
        per_token = per_token + spread_over_tokens(per_gram, len(ids), model.config.linear_ngrams)
    return per_token.tolist(), float(delta[0])


def linear_scores_by_position(model, inputs: torch.Tensor, lengths: torch.Tensor, sorted_scores: torch.Tensor):
    """The linear model's attributions, one per distinct n-gram in sorted order (as model.linear_columns reads
    them), as scores per n-gram position in model.ngram_ids order: a distinct n-gram's score shared equally by
    its occurrences."""
    grams = model.ngram_ids(inputs, lengths, model.config.linear_ngrams, model.config.linear_buckets)[0]
    distinct, occurrence, counts = torch.unique(grams, return_inverse=True, return_counts=True)
    scores = torch.zeros(len(distinct)).index_add_(0, torch.searchsorted(distinct, grams.sort().values),
                                                   sorted_scores.float())
    return torch.where(grams != model.config.pad_id, scores[occurrence] / counts[occurrence], 0.0)


def spread_over_tokens(gram_scores: torch.Tensor, length: int, ngrams: int) -> torch.Tensor:
    """Per-token scores from the bag's per-n-gram ones (as model.ngram_ids orders them: the tokens, then each
    run of 2 tokens, ...): an n-gram's score is shared equally by its n tokens."""
    per_token, start = torch.zeros(length), 0
    for n in range(1, ngrams + 1):
        runs = max(length - n + 1, 0)
        for offset in range(n):
            per_token[offset : offset + runs] += gram_scores[start : start + runs] / n
        start += runs
    return per_token


@torch.inference_mode()
def occlusion(classifier: TextClassifier, ids: list[int], target: int) -> list[float]:
    """p(target | text) - p(target | text without token i), for each token i; all texts in one batch."""
    if len(ids) > MAX_OCCLUSION_TOKENS:
        instead = f"use {method_hint('integrated_gradients')} for long texts" if has_gradients(classifier) else \
            "an exported model has no gradients for Integrated Gradients: explain a shorter text, or the original " \
            "model directory"
        raise ConfigError(f"occlusion runs one text per token and takes texts of at most {MAX_OCCLUSION_TOKENS} "
                          f"tokens; this one has {len(ids)}: {instead}")
    # A one-token text without its token is empty, which the model reads as [UNK] (see encode_batch).
    texts = [ids] + [ids[:i] + ids[i + 1 :] or [UNK_ID] for i in range(len(ids))]
    batch = collate(texts)
    probs = classifier.task.probabilities(classifier.model(batch["ids"], batch["lengths"]))[:, target]
    return (probs[0] - probs[1:]).tolist()


def resolve_label(classifier: TextClassifier, label: str | None, probs) -> int:
    if label is None:
        return int(probs.argmax())  # the predicted label
    names = [str(name) for name in classifier.labels]
    if str(label) not in names:
        raise ConfigError(f"unknown label {label!r}: the model's labels are {', '.join(map(repr, names))}")
    return names.index(str(label))


def explain(text: str, model, label: str | None = None, method: str | None = None, steps: int = 50) -> dict:
    """Per-token attributions of `label`'s probability (default: the predicted label) for one text.

    model: a TextClassifier on the CPU, or a model directory. method: one of METHODS; None (the default) is the
    model's own default, the first of methods_for(model): integrated_gradients for a PyTorch model, occlusion for an
    exported one. Returns a JSON-ready dict: text, label, score (its probability), method (the one that ran), target
    ("probability"), tokens [{token, start, end, score}], delta (IG's convergence delta, None for occlusion) and
    dropped (tokens cut by truncation: {tokens, start, end}, or None).
    """
    if method is not None and method not in METHODS:
        raise ConfigError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    texts, single = check_texts(text)
    if not single:
        raise InputTypeError(f"explain takes one text (a str), not {type(text).__name__}: call it once per text")
    if not isinstance(model, TextClassifier):
        model = load(model, device="cpu")
    elif model.device.type != "cpu":
        raise ConfigError(f"explanations run on the CPU, but the classifier is on {model.device}: load it with "
                          "device='cpu'")
    method = method or methods_for(model)[0]
    if method == "integrated_gradients" and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise ConfigError(f"steps must be a positive int, got {steps!r}")
    probs = model.probabilities(texts, batch_size=1)[0]  # the scores classify_text gives
    target = resolve_label(model, label, probs)
    ids, tokens, dropped = tokens_with_offsets(model, text)
    if method == "integrated_gradients":
        scores, delta = integrated_gradients(model, ids, target, steps)
    else:
        scores, delta = occlusion(model, ids, target), None
    for token, score in zip(tokens, scores):
        token["score"] = score
    return {"text": text, "label": model.labels[target], "score": float(probs[target]), "method": method,
            "target": "probability", "tokens": tokens, "delta": delta, "dropped": dropped}


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 60em; color: #222; }
.explanation { margin-bottom: 2em; border-bottom: 1px solid #ddd; padding-bottom: 1em; }
.text { white-space: pre-wrap; line-height: 2; font-size: 1.1em; }
.token { border-radius: 3px; padding: 0.1em 0; }
.dropped { color: #999; text-decoration: line-through; }
.legend { display: flex; align-items: center; gap: 0.5em; font-size: 0.9em; color: #555; }
.bar { width: 12em; height: 0.9em; border: 1px solid #ccc;
       background: linear-gradient(to right, rgb(220, 50, 50), white, rgb(40, 160, 60)); }
"""


def token_colour(score: float, scale: float) -> str:
    """Green for evidence for the label, red against it; opacity by |score| relative to the text's largest."""
    alpha = min(abs(score) / scale, 1.0) if scale > 0 else 0.0
    rgb = "40, 160, 60" if score >= 0 else "220, 50, 50"
    return f"rgba({rgb}, {alpha:.3f})"


def text_runs(explanation: dict) -> list[list]:
    """[start, end, tokens] runs of the text in order; tokens that share characters (NFKC makes "½" the three
    tokens "1", "⁄", "2") share one run, and the span cut by truncation is a run with tokens None."""
    marks = [(token["start"], token["end"], token) for token in explanation["tokens"]]
    if explanation.get("dropped"):
        marks.append((explanation["dropped"]["start"], explanation["dropped"]["end"], None))
    runs = []
    for start, end, token in sorted(marks, key=lambda mark: mark[:2]):
        if runs and token is not None and runs[-1][2] is not None and start < runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], end)
            runs[-1][2].append(token)
        else:
            runs.append([start, end, None if token is None else [token]])
    return runs


def explanation_section(explanation: dict) -> str:
    """One explanation as an HTML fragment: the header, the coloured text and its legend."""
    text, tokens = explanation["text"], explanation["tokens"]
    scale = max((abs(token["score"]) for token in tokens), default=0.0)
    pieces, cursor = [], 0
    for start, end, run_tokens in text_runs(explanation):
        pieces.append(html.escape(text[cursor:start]))
        if run_tokens is None:
            title = f'{explanation["dropped"]["tokens"]} tokens cut by truncation'
            pieces.append(f'<span class="dropped" title="{title}">{html.escape(text[start:end])}</span>')
        else:
            shown = text[start:end] or run_tokens[0]["token"]  # the [UNK] of a text without tokens
            score = sum(token["score"] for token in run_tokens)
            title = html.escape("; ".join(f'{token["token"]}: {token["score"]:+.4f}' for token in run_tokens))
            pieces.append(f'<span class="token" style="background: {token_colour(score, scale)}" '
                          f'title="{title}">{html.escape(shown)}</span>')
        cursor = end
    pieces.append(html.escape(text[cursor:]))
    delta = "" if explanation["delta"] is None else f', convergence delta {explanation["delta"]:+.2e}'
    header = (f'label <b>{html.escape(str(explanation["label"]))}</b>, score {explanation["score"]:.4f} '
              f'({html.escape(explanation["method"])}, scores explain the {html.escape(explanation["target"])}{delta})')
    legend = (f'<div class="legend"><span>against {-scale:+.3g}</span><span class="bar"></span>'
              f'<span>for {scale:+.3g}</span></div>')
    return f'<div class="explanation"><p>{header}</p><p class="text">{"".join(pieces)}</p>{legend}</div>'


def render_html_page(explanations: list[dict], title: str = "textrnn explanation") -> str:
    """Several explanations on one standalone page: inline CSS, no scripts, nothing fetched from elsewhere."""
    body = "\n".join(explanation_section(explanation) for explanation in explanations)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n")


def render_html(explanation: dict) -> str:
    """One explanation (from `explain`) as a standalone HTML page: tokens coloured by score, with the label."""
    return render_html_page([explanation])
