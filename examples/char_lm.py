"""A character-level language model of the `fortunes` collections: an LSTM and a small causal Transformer,
against an interpolated Kneser-Ney n-gram baseline, in validation bits per character; then samples.

Data: nine fortune files (708 kB) of Debian's ``fortunes`` package (``apt-get install fortunes``: text files
under /usr/share/games/fortunes; ``--files fortunes,literature,riddles`` are the 98 kB of fortunes-min).
The "%" lines between fortunes become blank lines. Each file is cut once: its first 90% trains, its last 10%
validates (a cut, not a shuffle, so that no validation window overlaps a training one).

Every model is scored on the same validation characters: windows of T characters every T / 2, and in each
the targets of its last T / 2 steps, so that a model has read at least T / 2 characters before each one it
is scored on (the n-gram reads its n - 1 previous ones). Bits per character = mean -log2 p(next character).
The ``val_loss`` of the training log is over every step of non-overlapping windows, in nats.

    python examples/char_lm.py                    # both models, a few minutes each
    python examples/char_lm.py --models lstm --lstm-epochs 2    # a quick look
"""
from __future__ import annotations

import argparse
import glob
import math
import os
import time
from collections import Counter, defaultdict

import numpy as np

import scratchnn
from scratchnn import layers
from scratchnn.backend.special import log_softmax
from scratchnn.datasets.text import CharVocabulary, read_text, sample_text, split_text, text_windows

FORTUNES = "/usr/share/games/fortunes"


def load_fortunes(names, folder: str = FORTUNES) -> tuple[str, str]:
    """(training text, validation text): each fortune file (a text with "%" lines between fortunes) cut at
    90%, the parts joined."""
    every = [path for path in sorted(glob.glob(os.path.join(folder, "*")))
             if os.path.isfile(path) and "." not in os.path.basename(path)]
    paths = [os.path.join(folder, name) for name in names] if names else every
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing or not paths:
        raise SystemExit(f"no fortune file {missing or folder}: apt-get install fortunes-min (or fortunes)")
    train_parts, val_parts = [], []
    for path in paths:
        text = read_text(path)
        text = "\n".join("" if line == "%" else line for line in text.splitlines()) + "\n"
        train_part, val_part = split_text(text, 0.1)
        train_parts.append(train_part)
        val_parts.append(val_part)
    return "\n".join(train_parts), "\n".join(val_parts)


# ---- the baseline: interpolated Kneser-Ney ------------------------------------------------------------
class KneserNey:
    """An interpolated Kneser-Ney character model of order n (Chen & Goodman 1998, one discount D).

    P_n(w | h) = (max(c(h w) - D, 0) + D N1+(h .) P_{n-1}(w | h')) / c(h), h' = h without its first character,
    where the highest order counts c are the n-grams and every lower order counts, for each gram, the
    distinct characters seen before it (its continuation count); below order 1 is the uniform 1 / V.
    A context never seen (c(h) = 0) passes all its mass to the lower order.
    """

    def __init__(self, text: str, order: int, vocabulary_size: int, discount: float = 0.75):
        self.order, self.size, self.discount = order, vocabulary_size, discount
        grams = [Counter(text[i:i + k] for i in range(len(text) - k + 1)) for k in range(order + 1)]
        self.counts = {order: grams[order]}
        for k in range(order - 1, 0, -1):                      # continuation counts N1+(. g)
            self.counts[k] = Counter(gram[1:] for gram in grams[k + 1])
        self.totals, self.types = {}, {}
        for k, table in self.counts.items():
            totals, types = defaultdict(int), defaultdict(int)
            for gram, count in table.items():
                totals[gram[:-1]] += count
                types[gram[:-1]] += 1
            self.totals[k], self.types[k] = totals, types

    def probability(self, history: str, char: str) -> float:
        p = 1.0 / self.size
        for k in range(1, self.order + 1):                     # from the unigram up to the whole history
            if k - 1 > len(history):
                break
            h = history[len(history) - (k - 1):] if k > 1 else ""
            total = self.totals[k].get(h, 0)
            if total:
                count = self.counts[k].get(h + char, 0)
                p = (max(count - self.discount, 0) + self.discount * self.types[k][h] * p) / total
        return p

    def bits(self, text: str, positions) -> float:
        """Mean -log2 P(text[i] | the n - 1 characters before it) over ``positions``."""
        n = self.order - 1
        return -float(np.mean([math.log2(self.probability(text[max(0, i - n):i], text[i])) for i in positions]))


# ---- the models -------------------------------------------------------------------------------------------
def lstm_model(vocabulary_size: int, steps: int, units: int, seed: int):
    return scratchnn.Sequential([layers.Embedding(vocabulary_size, 32), layers.LSTM(units, return_sequences=True),
                                 layers.Dense(vocabulary_size)], input_shape=(steps,), seed=seed, name="char_lstm")


def transformer_model(vocabulary_size: int, steps: int, width: int, blocks: int, heads: int, seed: int):
    """Embedding + PositionEmbedding, then pre-norm blocks y = x + MHA(LN(x)) (causal), z = y + FFN(LN(y))."""
    stack = [layers.Embedding(vocabulary_size, width), layers.PositionEmbedding(steps)]
    for _ in range(blocks):
        stack += [layers.Residual([layers.LayerNormalization(),
                                   layers.MultiHeadAttention(heads, width // heads, use_causal_mask=True)]),
                  layers.Residual([layers.LayerNormalization(), layers.Dense(4 * width, activation="relu"),
                                   layers.Dense(width)])]
    stack += [layers.LayerNormalization(), layers.Dense(vocabulary_size)]
    return scratchnn.Sequential(stack, input_shape=(steps,), seed=seed, name="char_transformer")


def train(model, x, y, x_val, y_val, epochs: int, lr: float, batch_size: int):
    steps = -(-len(x) // batch_size)
    model.compile(loss="sparse_categorical_crossentropy", from_logits=True,
                  optimizer=scratchnn.optim.Adam(learning_rate=scratchnn.schedules.warmup_cosine(lr, epochs, steps),
                                                 clipnorm=1.0))
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=(x_val, y_val), verbose=2)
    seconds = time.perf_counter() - start
    return seconds


def model_bits(model, x, y, skip: int) -> float:
    """Mean -log2 p(y) over the steps from ``skip`` on of each window (read from the logits, float64)."""
    log_p = log_softmax(np.asarray(model.predict(x), dtype=np.float64), axis=-1)
    return -float(np.take_along_axis(log_p, y[..., None], axis=-1)[:, skip:].mean()) / math.log(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default="fortunes,literature,riddles,wisdom,humorists,people,science,work,"
                        "politics",
                        help="fortune files of /usr/share/games/fortunes, comma-separated ('' for all)")
    parser.add_argument("--models", default="lstm,transformer")
    parser.add_argument("--steps", type=int, default=64, help="characters per window")
    parser.add_argument("--stride", type=int, help="between training windows (default: --steps, no overlap)")
    parser.add_argument("--lstm-units", type=int, default=192)
    parser.add_argument("--lstm-epochs", type=int, default=4)
    parser.add_argument("--width", type=int, default=64, help="the transformer's width")
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--transformer-epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train_text, val_text = load_fortunes([name for name in args.files.split(",") if name])
    vocabulary = CharVocabulary.from_text(train_text + val_text)
    half = args.steps // 2
    x, y = text_windows(vocabulary.encode(train_text), args.steps, stride=args.stride)
    x_val, y_val = text_windows(vocabulary.encode(val_text), args.steps)                  # fit's val_loss
    x_score, y_score = text_windows(vocabulary.encode(val_text), args.steps, stride=half)  # the bits/char
    scored = [start + 1 + t for start in range(0, len(x_score) * half, half) for t in range(half, args.steps)]
    print(f"{len(train_text) + len(val_text):,} characters ({len(train_text):,} train, {len(val_text):,} "
          f"validation), vocabulary {len(vocabulary)}; {len(x):,} training windows of {args.steps}; "
          f"{len(scored):,} validation characters scored")
    results = [("uniform", math.log2(len(vocabulary)), 0.0)]
    for order in (3, 5, 7):
        start = time.perf_counter()
        model = KneserNey(train_text, order, len(vocabulary))
        results.append((f"{order}-gram Kneser-Ney", model.bits(val_text, scored), time.perf_counter() - start))
    models = {}
    for kind in filter(None, args.models.split(",")):
        if kind == "lstm":
            model = lstm_model(len(vocabulary), args.steps, args.lstm_units, args.seed)
            seconds = train(model, x, y, x_val, y_val, args.lstm_epochs, 5e-3, args.batch_size)
        elif kind == "transformer":
            model = transformer_model(len(vocabulary), args.steps, args.width, args.blocks, 4, args.seed)
            seconds = train(model, x, y, x_val, y_val, args.transformer_epochs, 3e-3, args.batch_size)
        else:
            raise SystemExit(f"unknown model {kind!r}: lstm or transformer")
        bits = model_bits(model, x_score, y_score, half)
        results.append((f"{kind} ({model.count_params():,} parameters)", bits, seconds))
        models[kind] = model
    print(f"\n{'model':<36} {'validation bits/char':>20} {'seconds':>8}")
    for name, bits, seconds in results:
        print(f"{name:<36} {bits:>20.3f} {seconds:>8.1f}")
    for kind, model in models.items():
        model.metadata = vocabulary.to_metadata()
        for prompt in ("The ", "Q:\t"):
            if set(prompt) <= set(vocabulary.chars):
                sample = sample_text(model, vocabulary, prompt, 160, args.temperature, seed=args.seed)
                print(f"\n{kind}, temperature {args.temperature}:\n{prompt}{sample}")


if __name__ == "__main__":
    main()
