"""scratchnn generate: sample text from a character-level language model (one trained with --data text:FILE).

Also the text side of ``scratchnn train``: the windows of a text file (``load_text``) and the built-in
language models (``text_model``: an LSTM, or a small causal Transformer).
"""
from __future__ import annotations

import argparse
import sys

from .common import EXIT_USAGE, CommandError, positive_float, positive_int
from .model import open_model

NAME = "generate"
HELP = "sample text from a character-level language model (trained with --data text:FILE)"
TEXT_MODELS = ("lstm", "transformer")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a model file written by `scratchnn train --data text:FILE`")
    parser.add_argument("--prompt", help="the text to continue; every character must be in the model's "
                        "vocabulary (default: a newline)")
    parser.add_argument("--length", type=positive_int, default=200, help="characters to generate (default: 200)")
    parser.add_argument("--temperature", type=positive_float, default=1.0,
                        help="> 0: below 1 picks likelier characters, above 1 more varied ones (default: 1.0)")
    parser.add_argument("--seed", type=int, help="seed of the sampling (default: a fresh one each run)")


def run(args: argparse.Namespace) -> int:
    from ..datasets.text import CharVocabulary, sample_text
    model = open_model(args.model)
    try:
        vocabulary = CharVocabulary.from_metadata(getattr(model, "metadata", None))
    except ValueError as error:
        raise CommandError(f"{args.model}: {error}") from None
    prompt = "\n" if args.prompt is None else args.prompt
    if not prompt:
        raise CommandError("--prompt must hold at least one character", EXIT_USAGE)
    try:
        vocabulary.encode(prompt, "the prompt")
    except ValueError as error:
        raise CommandError(f"{error}; the model knows {vocabulary.chars!r}", EXIT_USAGE) from None
    text = sample_text(model, vocabulary, prompt, args.length, args.temperature, args.seed)
    sys.stdout.write(prompt + text + ("" if text.endswith("\n") else "\n"))
    return 0


# ---- the text side of `scratchnn train` ----------------------------------------------------------
def load_text(path: str, steps: int):
    """The next-character windows of a text file: (x, y) of shape (N, steps) ids that do not overlap, and
    the vocabulary of the file's characters."""
    from ..datasets.text import CharVocabulary, read_text, text_windows
    try:
        text = read_text(path)
        vocabulary = CharVocabulary.from_text(text)
        x, y = text_windows(vocabulary.encode(text), steps)
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise CommandError(f"text:{path}: {error} (a shorter --sequence-length?)") from None
    return x, y, vocabulary


def text_model(kind: str, vocabulary_size: int, steps: int, units: int, seed: int):
    """A language model: ids (N, steps) -> logits (N, steps, vocabulary_size).

    lstm: Embedding(vocabulary, min(units, 64)), LSTM(units, return_sequences=True), Dense(vocabulary).
    transformer: Embedding(vocabulary, units) + PositionEmbedding(steps), two pre-norm blocks of
    y = x + MultiHeadAttention(LN(x)) (4 heads, causal) and y = x + Dense(units)(relu(Dense(4 units)(LN(y)))),
    then LayerNormalization and Dense(vocabulary).
    """
    from .. import Sequential, layers
    if kind not in TEXT_MODELS:
        raise CommandError(f"--data text:FILE trains a language model: --model lstm or transformer "
                           f"(or CONFIG.json), got {kind!r}", EXIT_USAGE)
    if kind == "lstm":
        stack = [layers.Embedding(vocabulary_size, min(units, 64)),
                 layers.LSTM(units, return_sequences=True), layers.Dense(vocabulary_size)]
    else:
        heads = 4 if units % 4 == 0 else 1
        stack = [layers.Embedding(vocabulary_size, units), layers.PositionEmbedding(steps)]
        for _ in range(2):
            stack += [layers.Residual([layers.LayerNormalization(),
                                       layers.MultiHeadAttention(heads, units // heads, use_causal_mask=True)]),
                      layers.Residual([layers.LayerNormalization(), layers.Dense(4 * units, activation="relu"),
                                       layers.Dense(units)])]
        stack += [layers.LayerNormalization(), layers.Dense(vocabulary_size)]
    return Sequential(stack, input_shape=(steps,), seed=seed, name=f"char_{kind}")
