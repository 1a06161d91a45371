"""The classifier: token ids -> embedding -> (bi)RNN over packed sequences -> pooling -> linear head.

Only torch is imported here, so the whole architecture reads top to bottom.
Sequences are packed, so the recurrence never sees a padding position: a text
gives the same logits alone or in a batch with longer texts.
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
POOLINGS = ("last", "mean", "max")


@dataclass
class ModelConfig:
    vocab_size: int
    num_classes: int
    embedding_dim: int = 300
    hidden_dim: int = 128
    num_layers: int = 1
    cell: str = "lstm"  # rnn | lstm | gru
    bidirectional: bool = True
    dropout: float = 0.3
    word_dropout: float = 0.2  # share of tokens whose embedding is zeroed while training
    pooling: str = "max"  # last | mean | max, over valid time steps only
    pad_id: int = 0

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}: choose one of {', '.join(CELLS)}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}: choose one of {', '.join(POOLINGS)}")
        for name in ("vocab_size", "embedding_dim", "hidden_dim", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {self.num_classes}")
        for name in ("dropout", "word_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


class RNNClassifier(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_id)
        self.rnn = getattr(nn, CELLS[config.cell])(
            input_size=config.embedding_dim,
            hidden_size=config.hidden_dim,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            # PyTorch applies this between layers only; it warns when there is a single layer.
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.num_directions = 2 if config.bidirectional else 1
        self.head = nn.Linear(config.hidden_dim * self.num_directions, config.num_classes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # ids: [batch, seq] int64 (padded with pad_id); lengths: [batch] int64, every length >= 1
        # returns logits: [batch, num_classes]
        x = self.embedding(ids)  # [batch, seq, emb]
        if self.training and self.config.word_dropout > 0:
            # Whole tokens disappear, so no single word can carry a prediction alone.
            kept = torch.rand(ids.shape, device=ids.device) >= self.config.word_dropout  # [batch, seq]
            x = x * kept.unsqueeze(2).to(x.dtype)
        x = self.dropout(x)
        # pack_padded_sequence wants lengths on the CPU; keeping them there avoids a device sync.
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, hidden = self.rnn(packed)
        features = self.pool(output, hidden, lengths)  # [batch, dirs * hidden]
        return self.head(self.dropout(features))

    def pool(self, output, hidden, lengths: torch.Tensor) -> torch.Tensor:
        if self.config.pooling == "last":
            h_n = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM returns (h_n, c_n)
            # h_n: [layers * dirs, batch, hidden]; with packed input each direction's final state
            # is taken at that sequence's own last token (backward: its first token).
            last_layer = h_n[-self.num_directions :]  # [dirs, batch, hidden]
            return last_layer.transpose(0, 1).reshape(h_n.size(1), -1)
        padded, _ = pad_packed_sequence(output, batch_first=True)  # [batch, max_len, dirs * hidden], zeros past each length
        if self.config.pooling == "mean":
            return padded.sum(dim=1) / lengths.to(padded.device, padded.dtype).unsqueeze(1)
        steps = torch.arange(padded.size(1), device=padded.device)
        valid = steps.unsqueeze(0) < lengths.to(padded.device).unsqueeze(1)  # [batch, max_len]
        return padded.masked_fill(~valid.unsqueeze(2), float("-inf")).amax(dim=1)
