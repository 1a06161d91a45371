"""The classifier: token ids -> embedding -> (bi)RNN -> pooling over valid steps -> linear head.

Only torch is imported here, so the whole architecture reads top to bottom.
Padding never changes an output: a text gives the same logits alone or in a
batch with longer texts. Two ways to run the recurrence keep that promise:

- packed (CUDA): `pack_padded_sequence`, which cuDNN runs natively;
- padded (CPU): with no padding in the batch, the module as it is; otherwise
  each direction of each layer runs the fused padded kernel on its own. The
  forward direction reads the padded batch as it is (padding comes after
  every real token, so it never reaches one); the backward direction reads
  each sequence reversed within its own length, so its padding comes last too.
  With `weight_drop`, training takes this per-direction path on every device,
  since it is the one that is handed the weights (some recurrent ones dropped).
  PyTorch's CPU packed path is several times slower than this whenever the
  lengths in a batch differ.

With `ngrams` set, a bag of n-grams joins the pooled RNN state before the head, as fastText's and NBSVM's
features do, learnt together with the RNN: each token's id and each hashed run of 2..ngrams tokens has a
vector of its own, and the text's bag is their mean.

With `linear_ngrams` set, a linear model over the same kind of n-grams runs beside the network, and the logits are
their mix, `(1 - linear_share) * network + linear_share * linear`: a logistic regression on the text's distinct
n-grams, each weighted by its idf, the vector L2-normalised (TF-IDF's features, binary). Training fits it (with
scikit-learn) once the network is trained, and chooses the share on validation; here it is fixed weights:
`linear_index` maps a hashed n-gram to its column (0: seen too rarely in training, no weight), `linear_idf` and
`linear.weight` are the columns' idf and per-class weights.
"""

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
POOLINGS = ("last", "mean", "max")
# The functional form of each cell, as nn.RNN/LSTM/GRU call it: (input, hx, weights, has_biases,
# num_layers, dropout, train, bidirectional, batch_first) -> (output, h_n[, c_n]).
CELL_FUNCTIONS = {"rnn": torch.rnn_tanh, "lstm": torch.lstm, "gru": torch.gru}
NGRAM_HASH_MULTIPLIER = 1_000_003  # a prime above any vocabulary size, so that (a, b) and (b, a) differ


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
    weight_drop: float = 0.0  # share of the recurrent (hidden-to-hidden) weights dropped while training (AWD-LSTM)
    pooling: str = "max"  # last | mean | max over valid time steps, or several joined by "+" (max+mean)
    chunk_length: int = 0  # > 0: texts run through the RNN in independent chunks of this many tokens
    ngrams: int = 0  # > 0: a bag of every 1..ngrams-token run joins the RNN state (2: words and word pairs)
    ngram_buckets: int = 500_000  # hashed ids shared by the runs of 2 tokens or more
    ngram_dim: int = 32  # size of an n-gram's vector
    linear_ngrams: int = 0  # > 0: a linear model over the distinct runs of 1..linear_ngrams tokens joins the logits
    linear_buckets: int = 1  # hashed ids of the linear model's runs of 2 tokens or more
    linear_features: int = 1  # columns of the linear model, column 0 (no weight) included
    linear_share: float = 0.0  # the linear model's share of the mixed logits
    pad_id: int = 0

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}: choose one of {', '.join(CELLS)}")
        if not self.poolings or any(part not in POOLINGS for part in self.poolings):
            raise ValueError(f"unknown pooling {self.pooling!r}: choose one of {', '.join(POOLINGS)}, "
                             "or several joined by '+'")
        if self.ngrams < 0 or self.linear_ngrams < 0:
            raise ValueError(f"ngrams and linear_ngrams must be 0 (none) or more, got {self.ngrams}, "
                             f"{self.linear_ngrams}")
        if not 0.0 <= self.linear_share <= 1.0:
            raise ValueError(f"linear_share must be in [0, 1], got {self.linear_share}")
        if self.chunk_length < 0:
            raise ValueError(f"chunk_length must be 0 (whole texts) or more, got {self.chunk_length}")
        for name in ("vocab_size", "embedding_dim", "hidden_dim", "num_layers", "ngram_buckets", "ngram_dim",
                     "linear_buckets", "linear_features"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {self.num_classes}")
        for name in ("dropout", "word_dropout", "weight_drop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def poolings(self) -> list[str]:
        return self.pooling.split("+")

    def to_dict(self) -> dict:
        return asdict(self)


def reverse_index(lengths: torch.Tensor, seq_len: int) -> torch.Tensor:
    """index[b, t] = lengths[b] - 1 - t for real steps, t for padding: reverses each sequence in place."""
    steps = torch.arange(seq_len, device=lengths.device)
    index = lengths.unsqueeze(1) - 1 - steps  # [batch, seq]
    return torch.where(index >= 0, index, steps)


def gather_steps(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    # x: [batch, seq, features], index: [batch, seq] -> x[b, index[b, t]]
    return x.gather(1, index.unsqueeze(2).expand(-1, -1, x.size(2)))


def meta_weight(rows: int, columns: int, device) -> torch.Tensor | None:
    """An embedding table with no values on the meta device (None elsewhere: nn.Embedding draws its own), since
    drawing them there goes through torch's reference ops, whose first call imports TorchDynamo (1.5 s)."""
    return torch.empty(rows, columns, device="meta") if torch.device(device or "cpu").type == "meta" else None


class RNNClassifier(nn.Module):
    def __init__(self, config: ModelConfig, device=None):
        # device="meta": shapes without weights, for a model whose saved weights replace every value anyway
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_id,
                                      _weight=meta_weight(config.vocab_size, config.embedding_dim, device))
        self.rnn = getattr(nn, CELLS[config.cell])(
            input_size=config.embedding_dim,
            hidden_size=config.hidden_dim,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            # PyTorch applies this between layers only; it warns when there is a single layer.
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            device=device,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.num_directions = 2 if config.bidirectional else 1
        features = len(config.poolings) * config.hidden_dim * self.num_directions
        if config.ngrams:
            # Token ids index their own rows; the hashed runs of 2+ tokens come after the vocabulary.
            rows = config.vocab_size + config.ngram_buckets
            self.ngram_embedding = nn.Embedding(rows, config.ngram_dim, padding_idx=config.pad_id,
                                                _weight=meta_weight(rows, config.ngram_dim, device))
            nn.init.uniform_(self.ngram_embedding.weight, -1 / config.ngram_dim, 1 / config.ngram_dim)  # as fastText
            with torch.no_grad():
                self.ngram_embedding.weight[config.pad_id] = 0.0
            features += config.ngram_dim
        self.head = nn.Linear(features, config.num_classes, device=device)
        if config.linear_ngrams:  # fitted after training (training/linear.py), never by the optimiser
            rows = config.vocab_size + config.linear_buckets
            self.register_buffer("linear_index", torch.zeros(rows, dtype=torch.int32, device=device))
            self.register_buffer("linear_idf", torch.zeros(config.linear_features, device=device))
            self.linear = nn.Embedding(config.linear_features, config.num_classes, device=device,
                                       _weight=meta_weight(config.linear_features, config.num_classes, device))
            self.linear_bias = nn.Parameter(torch.zeros(config.num_classes, device=device))
            self.linear.requires_grad_(False)
            self.linear_bias.requires_grad_(False)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, linear_share: float | None = None) -> torch.Tensor:
        # ids: [batch, seq] int64 (padded with pad_id); lengths: [batch] int64 on the CPU, every length >= 1
        # linear_share: the linear model's share of the logits (default: the config's; 0: the network alone)
        # returns logits: [batch, num_classes]
        kept = self.word_mask(ids)  # [batch, seq] or None
        output = self.encode(self.embed(ids, kept), lengths)  # [batch, seq, dirs * hidden], valid where t < length
        lengths = lengths.to(ids.device)
        if kept is not None:  # the bag reads the same text as the RNN: without the dropped words, or their n-grams
            ids = ids.masked_fill(~kept, self.config.pad_id)
        return self.classify(self.pool(output, lengths), ids, lengths, linear_share)

    def classify(self, pooled: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor,
                 linear_share: float | None = None) -> torch.Tensor:
        """Logits from the pooled RNN state [batch, poolings * dirs * hidden], joined by the bag of n-grams, mixed
        with the linear model's."""
        if self.config.ngrams:
            grams = self.ngram_ids(ids, lengths)  # [batch, positions]
            count = (grams != self.config.pad_id).sum(dim=1, keepdim=True).clamp(min=1)  # [batch, 1]
            bag = self.ngram_embedding(grams).sum(dim=1) / count.to(pooled.dtype)  # [batch, ngram_dim]
            pooled = torch.cat([pooled, bag.to(pooled.dtype)], dim=1)
        logits = self.head(self.dropout(pooled))
        share = self.config.linear_share if linear_share is None else linear_share
        if not share:
            return logits
        return (1 - share) * logits + share * self.linear_logits(ids, lengths).to(logits.dtype)

    def ngram_ids(self, ids: torch.Tensor, lengths: torch.Tensor, ngrams: int | None = None,
                  buckets: int | None = None) -> torch.Tensor:
        """[batch, positions]: every token's id, then every run of n tokens' hashed id (n = 2..ngrams), and
        pad_id for runs that reach past a text's end or hold a pad token (explain's all-pad baseline).
        By default the bag's n-grams; the linear model's give its own ngrams and buckets."""
        config = self.config
        ngrams, buckets = ngrams or config.ngrams, buckets or config.ngram_buckets
        steps = torch.arange(ids.size(1), device=ids.device)
        real = (steps.unsqueeze(0) < lengths.unsqueeze(1)) & (ids != config.pad_id)  # [batch, seq]
        grams, hashed, whole = [ids.masked_fill(~real, config.pad_id)], ids, real
        for n in range(2, ngrams + 1):
            # the hash of tokens t..t+n-1, from that of t..t+n-2: stays below buckets, far from int64's limit
            hashed = (hashed[:, :-1] * NGRAM_HASH_MULTIPLIER + ids[:, n - 1 :]) % buckets
            whole = whole[:, :-1] & real[:, n - 1 :]
            grams.append((hashed + config.vocab_size).masked_fill(~whole, config.pad_id))
        return torch.cat(grams, dim=1)

    def linear_columns(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[batch, positions]: the linear model's column of each of a text's distinct n-grams, sorted, and 0 for
        repeats, padding and n-grams without a column (counted once each: the features are binary)."""
        grams = self.ngram_ids(ids, lengths, self.config.linear_ngrams, self.config.linear_buckets).sort(dim=1).values
        first = torch.cat([torch.ones_like(grams[:, :1], dtype=torch.bool), grams[:, 1:] != grams[:, :-1]], dim=1)
        return self.linear_index[grams].long() * first

    def linear_values(self, columns: torch.Tensor) -> torch.Tensor:
        """[batch, positions]: each column's idf over the text's L2 norm (its TF-IDF value); 0 for column 0."""
        idf = self.linear_idf[columns]
        return idf / idf.square().sum(dim=1, keepdim=True).sqrt().clamp(min=1e-12)

    def linear_logits(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        columns = self.linear_columns(ids, lengths)
        return (self.linear(columns) * self.linear_values(columns).unsqueeze(2)).sum(dim=1) + self.linear_bias

    def network_logits(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The logits without the linear model's share (fitting chooses that share)."""
        return self(ids, lengths, linear_share=0.0)

    def word_mask(self, ids: torch.Tensor) -> torch.Tensor | None:
        """While training with word dropout, the tokens kept ([batch, seq] bool); None otherwise. Whole tokens
        disappear, so no single word can carry a prediction alone."""
        if not (self.training and self.config.word_dropout > 0):
            return None
        return torch.rand(ids.shape, device=ids.device) >= self.config.word_dropout

    def embed(self, ids: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embedding(ids)  # [batch, seq, emb]
        if kept is not None:
            x = x * kept.unsqueeze(2).to(x.dtype)
        return self.dropout(x)

    def encode(self, x: torch.Tensor, lengths: torch.Tensor, packed: bool | None = None) -> torch.Tensor:
        """RNN outputs for embedded input x: [batch, seq, emb]. Positions past a text's length hold
        no meaning; pool() ignores them. packed=None picks packed on CUDA and padded elsewhere."""
        chunk = self.config.chunk_length
        if not chunk or x.size(1) <= chunk:
            return self.run_rnn(x, lengths, packed)
        # Long texts run as independent chunks of `chunk` tokens (Johnson & Zhang 2016): many short
        # sequences side by side instead of a few long ones, while pooling still spans the whole text.
        batch, seq, _ = x.shape
        chunks = -(-seq // chunk)
        x = F.pad(x, (0, 0, 0, chunks * chunk - seq)).reshape(batch * chunks, chunk, -1)  # [batch * chunks, chunk, emb]
        starts = torch.arange(chunks) * chunk
        chunk_lengths = (lengths.cpu().unsqueeze(1) - starts).clamp(0, chunk).reshape(-1)  # [batch * chunks]
        real = (chunk_lengths > 0).nonzero().squeeze(1)  # chunks past a text's end are skipped
        on_device = real.to(x.device, non_blocking=True)
        output = self.run_rnn(x[on_device], chunk_lengths[real], packed)  # [real chunks, chunk, dirs * hidden]
        whole = output.new_zeros(batch * chunks, chunk, output.size(2)).index_copy(0, on_device, output)
        return whole.reshape(batch, chunks * chunk, -1)[:, :seq]

    def run_rnn(self, x: torch.Tensor, lengths: torch.Tensor, packed: bool | None) -> torch.Tensor:
        if packed is None:
            packed = x.is_cuda and not (self.training and self.config.weight_drop)
        if packed:
            # pack_padded_sequence wants lengths on the CPU; keeping them there avoids a device sync.
            sequences = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            output, _ = self.rnn(sequences)
            return pad_packed_sequence(output, batch_first=True, total_length=x.size(1))[0]
        if self.training and self.config.weight_drop:
            return self.encode_padded(x, lengths.to(x.device))  # the one path that takes the weights it is given
        if bool((lengths == x.size(1)).all()):
            # No padding (one text, or a bucket of equal lengths): the module's own fused call runs every
            # layer and direction at once, half the calls of the per-direction path.
            return self.rnn(x)[0]
        return self.encode_padded(x, lengths.to(x.device))

    def encode_padded(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        run_cell = CELL_FUNCTIONS[self.config.cell]
        batch, hidden = x.size(0), self.config.hidden_dim
        reverse = reverse_index(lengths, x.size(1)) if self.config.bidirectional else None
        for layer in range(self.config.num_layers):
            if layer > 0:
                x = F.dropout(x, self.rnn.dropout, self.training)
            outputs = []
            for suffix in ("", "_reverse")[: self.num_directions]:
                weights = [getattr(self.rnn, f"{kind}_l{layer}{suffix}") for kind in ("weight_ih", "weight_hh",
                                                                                      "bias_ih", "bias_hh")]
                # DropConnect on the recurrent weights: one mask for every step of the batch (Merity et al. 2018)
                if self.training and self.config.weight_drop:
                    weights[1] = F.dropout(weights[1], self.config.weight_drop)
                h0 = x.new_zeros(1, batch, hidden)
                hx = (h0, h0) if self.config.cell == "lstm" else h0
                source = gather_steps(x, reverse) if suffix else x
                output = run_cell(source, hx, weights, True, 1, 0.0, self.training, False, True)[0]
                outputs.append(gather_steps(output, reverse) if suffix else output)  # [batch, seq, hidden]
            x = torch.cat(outputs, dim=2) if len(outputs) > 1 else outputs[0]
        return x

    def pool(self, output: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # output: [batch, seq, dirs * hidden]; lengths: [batch] on output's device
        steps = torch.arange(output.size(1), device=output.device)
        valid = (steps.unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2)  # [batch, seq, 1]
        pooled = []
        for pooling in self.config.poolings:
            if pooling == "last":
                # Each direction's final state: forward at the text's last token, backward at its first.
                last = output[torch.arange(output.size(0), device=output.device), lengths - 1]  # [batch, dirs * hidden]
                if self.num_directions == 2:
                    last = torch.cat([last[:, : self.config.hidden_dim], output[:, 0, self.config.hidden_dim :]], dim=1)
                pooled.append(last)
            elif pooling == "mean":
                pooled.append(output.masked_fill(~valid, 0.0).sum(dim=1) / lengths.to(output.dtype).unsqueeze(1))
            else:
                pooled.append(output.masked_fill(~valid, float("-inf")).amax(dim=1))
        return torch.cat(pooled, dim=1) if len(pooled) > 1 else pooled[0]
