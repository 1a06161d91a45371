"""The tutorial-style peer of scripts/benchmark_speed.py: a Python regex tokenizer, a Counter vocabulary,
shuffled random batches, embedding + BiLSTM over pack_padded_sequence(enforce_sorted=False), Adam.
"""

import re
from collections import Counter

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence


# ----------------------------------------------------------------------------- the reference pipeline

LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
WORD = re.compile(r"\w+|[^\w\s]")
PAD, UNK = 0, 1


def reference_tokenize(text: str) -> list[str]:
    return WORD.findall(LINE_BREAK.sub(" ", text.lower()))


def reference_vocabulary(token_lists, max_size: int, min_freq: int) -> dict[str, int]:
    counts = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    kept = [word for word, count in counts.most_common(max_size - 2) if count >= min_freq]
    return {word: index for index, word in enumerate(kept, start=2)}


def reference_numericalize(tokens: list[str], vocab: dict[str, int], max_length: int) -> list[int]:
    return [vocab.get(token, UNK) for token in tokens[:max_length]] or [UNK]


class ReferenceLSTM(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_dim, num_classes, dropout):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * hidden_dim, num_classes)

    def forward(self, ids, lengths):
        embedded = self.dropout(self.embedding(ids))  # [batch, seq, emb]
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)  # hidden: [2, batch, hidden]
        return self.fc(self.dropout(torch.cat([hidden[-2], hidden[-1]], dim=-1)))


def reference_batches(sequences, labels, batch_size, shuffle, seed=0):
    order = np.random.default_rng(seed).permutation(len(sequences)) if shuffle else np.arange(len(sequences))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids = pad_sequence([torch.tensor(sequences[i]) for i in rows], batch_first=True, padding_value=PAD)
        yield ids, torch.tensor([len(sequences[i]) for i in rows]), torch.tensor([labels[i] for i in rows])


def reference_train_epoch(model, optimizer, sequences, labels, batch_size, device, seed) -> None:
    model.train()
    for ids, lengths, batch_labels in reference_batches(sequences, labels, batch_size, shuffle=True, seed=seed):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(ids.to(device), lengths), batch_labels.to(device))
        loss.backward()
        optimizer.step()


def reference_predict(model, sequences, batch_size, device) -> np.ndarray:
    model.eval()
    predictions = []
    with torch.no_grad():
        for ids, lengths, _ in reference_batches(sequences, [0] * len(sequences), batch_size, shuffle=False):
            predictions.append(model(ids.to(device), lengths).argmax(-1).cpu())
    return torch.cat(predictions).numpy()


