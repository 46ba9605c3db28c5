"""Text for a character-level language model: read a file, a character vocabulary, next-character windows,
and sampling text from a trained model with a temperature.

A language model reads characters c_1 .. c_t and gives a distribution over c_{t+1}. Training pairs are
windows of the text: inputs ids[i : i + T] and targets ids[i + 1 : i + T + 1] (the same window shifted by
one), so a model of output (N, T, vocabulary) learns every position at once with the sparse categorical
crossentropy over the last axis. Its mean, in nats, divided by ln 2 is the bits per character.

>>> vocabulary = CharVocabulary.from_text("hello")
>>> vocabulary.chars, vocabulary.encode("hole").tolist(), vocabulary.decode([3, 1])
('ehlo', [1, 3, 2, 0], 'oh')
>>> x, y = text_windows(vocabulary.encode("hello"), 2)
>>> x.tolist(), y.tolist()
([[1, 0], [2, 2]], [[0, 2], [2, 3]])
"""
from __future__ import annotations

import math

import numpy as np

from ..backend.special import softmax
from ..validation import check_number, check_positive_int

__all__ = ["read_text", "CharVocabulary", "text_windows", "split_text", "sample_text", "bits_per_character"]


def read_text(path, encoding: str = "utf-8") -> str:
    """The text of a file (universal newlines); an empty file or one that is not ``encoding`` is a ValueError."""
    try:
        with open(path, encoding=encoding) as stream:
            text = stream.read()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not {encoding} text ({error.reason} at byte {error.start})") from None
    if not text:
        raise ValueError(f"{path}: the file is empty")
    return text


class CharVocabulary:
    """The characters of a text, sorted, each with an id 0 .. len - 1 (the Embedding's input_dim is len).

    ``encode`` refuses a character outside the vocabulary (naming it) rather than guessing; the vocabulary
    travels with a model as ``to_metadata()`` / ``from_metadata(...)`` (model.metadata, kept in the model file).
    """

    def __init__(self, chars: str):
        if not isinstance(chars, str) or not chars:
            raise ValueError(f"CharVocabulary: expected a non-empty string of characters, got {chars!r}")
        if len(set(chars)) != len(chars):
            raise ValueError(f"CharVocabulary: the characters must be distinct, got {chars!r}")
        self.chars = chars
        self.index = {char: i for i, char in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocabulary:
        """Every character of ``text``, sorted by code point."""
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, CharVocabulary) and other.chars == self.chars

    def __repr__(self) -> str:
        return f"CharVocabulary({len(self)} characters)"

    def encode(self, text: str, name: str = "text") -> np.ndarray:
        """The ids (int64, shape (len(text),)) of the characters of ``text``."""
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            shown = "".join(unknown[:10])
            raise ValueError(f"{name} has {len(unknown)} character(s) outside the vocabulary of {len(self)}: "
                             f"{shown!r}")
        return np.fromiter((self.index[char] for char in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        """The text of a sequence of ids; an id outside 0 .. len - 1 is a ValueError."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"CharVocabulary.decode: expected integer ids in [0, {len(self)}), got {ids[:10]}")
        return "".join(self.chars[i] for i in ids.tolist())

    def to_metadata(self) -> dict:
        """A JSON dict for ``model.metadata`` (scratchnn generate reads it back)."""
        return {"kind": "char_vocabulary", "chars": self.chars}

    @classmethod
    def from_metadata(cls, metadata) -> CharVocabulary:
        if not isinstance(metadata, dict) or metadata.get("kind") != "char_vocabulary":
            raise ValueError("no character vocabulary in this model's metadata (train it with "
                             "`scratchnn train --data text:FILE`, or set model.metadata = vocabulary.to_metadata())")
        return cls(metadata.get("chars"))


def text_windows(ids, length: int, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), each (N, length) int64: inputs ids[s : s + length], targets ids[s + 1 : s + length + 1],
    for s = 0, stride, 2 stride, ... (default stride = length: windows that do not overlap)."""
    length = check_positive_int("length", length, "text_windows")
    stride = length if stride is None else check_positive_int("stride", stride, "text_windows")
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(ids) < length + 1:
        raise ValueError(f"text_windows: a window of {length} characters and its next one needs at least "
                         f"{length + 1} characters, the text has {len(ids)}")
    starts = np.arange(0, len(ids) - length, stride)
    offsets = starts[:, None] + np.arange(length)
    return ids[offsets], ids[offsets + 1]


def split_text(text: str, validation_fraction: float = 0.1) -> tuple[str, str]:
    """The text cut in two at a point: the first 1 - fraction for training, the rest for validation (a cut,
    not a shuffle, so that no window of the validation part overlaps one of the training part)."""
    fraction = check_number("validation_fraction", validation_fraction, "split_text", 0, 1, high_open=True)
    cut = len(text) - int(round(len(text) * fraction))
    return text[:cut], text[cut:]


def sample_text(model, vocabulary: CharVocabulary, prompt: str, length: int, temperature: float = 1.0,
                seed=None) -> str:
    """``length`` characters drawn from a causal model after ``prompt``, each from softmax(logits / temperature).

    The model takes windows of T = model.input_shape[0] ids and gives (N, T, vocabulary) logits (or
    probabilities after a Softmax layer). The context is the last T characters, written from position 0 and
    padded on the right: a causal model (an LSTM, attention with use_causal_mask=True) reads position t from
    the steps up to t only, so the padding does not change the logits read at the context's last position.
    A temperature below 1 sharpens the distribution (towards the most likely character), above 1 flattens it.
    """
    length = check_positive_int("length", length, "sample_text")
    temperature = check_number("temperature", temperature, "sample_text", 0, low_open=True)
    if not prompt:
        raise ValueError("sample_text: the prompt must hold at least one character")
    ids = list(vocabulary.encode(prompt, "the prompt"))
    steps = model.input_shape[0]
    probabilities_out = bool(model.layers) and type(model.layers[-1]).__name__ == "Softmax"
    rng = np.random.default_rng(seed)
    window = np.zeros((1, steps), dtype=np.int64)
    for _ in range(length):
        context = ids[-steps:]
        window[0, :] = 0
        window[0, :len(context)] = context
        out = np.asarray(model.predict(window), dtype=np.float64)[0, len(context) - 1]
        logits = np.log(np.clip(out, 1e-300, None)) if probabilities_out else out
        p = softmax(logits / temperature)
        ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return vocabulary.decode(ids[len(prompt):])


def bits_per_character(nats: float) -> float:
    """A mean crossentropy in nats per character as bits per character (divide by ln 2)."""
    return nats / math.log(2)
