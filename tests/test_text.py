"""Character-level language modelling: the text helpers, the crossentropy on (N, T, V), sampling, and
`scratchnn train --data text:FILE` + `scratchnn generate` end to end."""
import math

import numpy as np
import pytest

import scratchnn
from scratchnn import layers, losses
from scratchnn.cli import main
from scratchnn.datasets.text import CharVocabulary, read_text, sample_text, split_text, text_windows

TEXT = "the cat sat on the mat.\nthe dog sat on the log.\n" * 12


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT)
    return path


def tiny_lstm(vocabulary_size, steps, seed=0):
    return scratchnn.Sequential([layers.Embedding(vocabulary_size, 8), layers.LSTM(16, return_sequences=True),
                                 layers.Dense(vocabulary_size)], input_shape=(steps,), seed=seed)


# ---- the vocabulary, windows and split ----------------------------------------------------------------
def test_vocabulary_round_trip_and_metadata():
    vocabulary = CharVocabulary.from_text(TEXT)
    assert vocabulary.chars == "".join(sorted(set(TEXT))) and len(vocabulary) == len(set(TEXT))
    ids = vocabulary.encode(TEXT)
    assert ids.dtype == np.int64 and ids.shape == (len(TEXT),) and ids.max() == len(vocabulary) - 1
    assert vocabulary.decode(ids) == TEXT
    assert CharVocabulary.from_metadata(vocabulary.to_metadata()) == vocabulary
    with pytest.raises(ValueError, match=r"the prompt has 2 character\(s\) outside the vocabulary.*'QZ'"):
        vocabulary.encode("ZQ cat", "the prompt")
    with pytest.raises(ValueError, match="integer ids in"):
        vocabulary.decode([len(vocabulary)])
    with pytest.raises(ValueError, match="no character vocabulary"):
        CharVocabulary.from_metadata({"something": "else"})
    with pytest.raises(ValueError, match="distinct"):
        CharVocabulary("aa")


def test_read_text_refuses_empty_and_undecodable_files(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9")
    with pytest.raises(ValueError, match="empty"):
        read_text(tmp_path / "empty.txt")
    with pytest.raises(ValueError, match="not utf-8 text"):
        read_text(tmp_path / "bad.txt")
    assert read_text(tmp_path / "bad.txt", encoding="latin-1") == "caf\xe9"


def test_windows_are_the_text_and_its_next_characters():
    ids = np.arange(10)
    x, y = text_windows(ids, 4)
    assert x.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]] and y.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    x, y = text_windows(ids, 4, stride=3)
    assert x[:, 0].tolist() == [0, 3] and (y == x + 1).all()
    assert text_windows(ids, 9)[1].tolist() == [list(range(1, 10))]
    with pytest.raises(ValueError, match="at least 11 characters"):
        text_windows(ids, 10)
    train, validation = split_text("abcdefghij", 0.2)
    assert (train, validation) == ("abcdefgh", "ij")


# ---- the loss on sequence outputs ------------------------------------------------------------------------
def test_sparse_crossentropy_on_sequences_matches_torch_and_its_gradient():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 5, 7))
    targets = rng.integers(0, 7, (3, 5))
    loss = losses.get("sparse_categorical_crossentropy", from_logits=True)
    value = loss.forward(logits, targets)
    grad = loss.backward()
    z = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(z.permute(0, 2, 1), torch.tensor(targets))
    expected.backward()
    assert grad.shape == logits.shape
    np.testing.assert_allclose(value, expected.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-10, atol=1e-14)
    one_hot = np.eye(7)[targets]                                     # (N, T, V) one-hot targets: the same
    np.testing.assert_allclose(loss.forward(logits, one_hot), value, rtol=1e-12)
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    plain = losses.get("sparse_categorical_crossentropy")           # on probabilities
    np.testing.assert_allclose(plain.forward(probabilities, targets[..., None]), value, rtol=1e-9)
    np.testing.assert_allclose(plain.backward() * probabilities
                               - probabilities * (plain.backward() * probabilities).sum(-1, keepdims=True),
                               grad, atol=1e-12)                     # chained through the softmax: the same
    weights = np.array([1.0, 0.0, 2.0])                              # a sample weight weighs a whole sequence
    per_sequence = [loss.forward(logits[i:i + 1], targets[i:i + 1]) for i in range(3)]
    np.testing.assert_allclose(loss.forward(logits, targets, weights), np.dot(weights, per_sequence) / 3)
    with pytest.raises(ValueError, match=r"integer labels of shape \(3, 5\)"):
        loss.forward(logits, targets[:, :4])


def test_a_tiny_lstm_learns_a_tiny_text():
    vocabulary = CharVocabulary.from_text(TEXT)
    x, y = text_windows(vocabulary.encode(TEXT), 12)
    model = tiny_lstm(len(vocabulary), 12)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=scratchnn.optim.Adam(0.02), from_logits=True)
    before = model.evaluate(x, y)["loss"]
    assert before == pytest.approx(math.log(len(vocabulary)), rel=0.05)   # near uniform at the start
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(x, y)["loss"] < 0.6 * before


# ---- sampling ---------------------------------------------------------------------------------------------
def test_padding_after_the_context_does_not_change_a_causal_models_next_character():
    """sample_text writes the context from position 0 and pads on the right: for a causal model the logits
    at the context's last step must not depend on the padding (the LSTM, and causal attention)."""
    attention = scratchnn.Sequential([layers.Embedding(6, 8), layers.PositionEmbedding(10),
                                      layers.Residual(layers.MultiHeadAttention(2, 4, use_causal_mask=True)),
                                      layers.Dense(6)], input_shape=(10,), seed=0)
    for model in (tiny_lstm(6, 10), attention):
        window = np.array([[1, 2, 3, 4, 0, 0, 0, 0, 0, 0]])
        other = window.copy()
        other[0, 4:] = [5, 1, 3, 2, 4, 5]
        np.testing.assert_allclose(model.predict(window)[0, :4], model.predict(other)[0, :4], rtol=1e-5, atol=1e-6)
        assert not np.allclose(model.predict(window)[0, 4:], model.predict(other)[0, 4:])


def test_sample_text_is_reproducible_and_checks_its_arguments():
    vocabulary = CharVocabulary.from_text(TEXT)
    model = tiny_lstm(len(vocabulary), 8)
    first = sample_text(model, vocabulary, "the ", 30, temperature=0.8, seed=3)
    assert len(first) == 30 and set(first) <= set(vocabulary.chars)
    assert sample_text(model, vocabulary, "the ", 30, temperature=0.8, seed=3) == first
    cold = sample_text(model, vocabulary, "the ", 10, temperature=1e-6, seed=1)    # near argmax: seed-free
    assert sample_text(model, vocabulary, "the ", 10, temperature=1e-6, seed=2) == cold
    with pytest.raises(ValueError, match="temperature"):
        sample_text(model, vocabulary, "the ", 5, temperature=0)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        sample_text(model, vocabulary, "THE", 5)


def test_the_vocabulary_travels_in_the_model_file(tmp_path):
    vocabulary = CharVocabulary.from_text(TEXT)
    model = tiny_lstm(len(vocabulary), 8)
    model.metadata = vocabulary.to_metadata()
    model.save(tmp_path / "lm.snn")
    assert CharVocabulary.from_metadata(scratchnn.load_model(tmp_path / "lm.snn").metadata) == vocabulary
    del model.metadata                                   # a file without metadata loads as before
    model.save(tmp_path / "plain.snn")
    assert not hasattr(scratchnn.load_model(tmp_path / "plain.snn"), "metadata")


# ---- the command line -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_train_on_text_then_generate(kind, text_file, tmp_path, capsys):
    out = tmp_path / f"{kind}.snn"
    status = main(["train", "--data", f"text:{text_file}", "--model", kind, "--sequence-length", "8",
                   "--units", "8", "--epochs", "2", "--batch-size", "16", "--lr", "0.01", "--verbose", "0",
                   "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "bits/char" in printed and f"model written to {out}" in printed
    assert main(["generate", str(out), "--prompt", "the ", "--length", "25", "--temperature", "0.7",
                 "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("the ") and len(text.rstrip("\n")) >= 4 + 20 and set(text) <= set(TEXT)
    main(["generate", str(out), "--prompt", "the ", "--length", "25", "--temperature", "0.7", "--seed", "1"])
    assert capsys.readouterr().out == text                            # --seed makes it reproducible


def test_text_command_line_errors_are_one_line(text_file, tmp_path, capsys):
    out = tmp_path / "lm.snn"
    assert main(["train", "--data", f"text:{text_file}", "--sequence-length", "8", "--units", "4", "--epochs",
                 "1", "--verbose", "0", "--out", str(out)]) == 0                  # default: the LSTM
    capsys.readouterr()
    cases = [(["generate", str(out), "--prompt", "The Cat"], 2, "outside the vocabulary"),
             (["generate", str(out), "--temperature", "0"], 2, "temperature"),
             (["generate", str(out), "--temperature", "-1"], 2, "temperature"),
             (["train", "--data", "digits", "--model", "lstm", "--out", str(tmp_path / "x.snn")], 2,
              "language model"),
             (["train", "--data", f"text:{text_file}", "--model", "mlp", "--out", str(tmp_path / "x.snn")], 2,
              "--model lstm or transformer"),
             (["train", "--data", f"text:{text_file}", "--sequence-length", "5000", "--out",
               str(tmp_path / "x.snn")], 1, "at least 5001 characters"),
             (["train", "--data", f"text:{tmp_path / 'missing.txt'}", "--out", str(tmp_path / "x.snn")], 1,
              "cannot read"),
             (["evaluate", str(out), "--data", f"text:{text_file}"], 2, "scratchnn generate")]
    for argv, code, message in cases:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (argv, err)
    plain = scratchnn.Sequential([layers.Dense(2)], input_shape=(3,))
    plain.save(tmp_path / "plain.snn")
    assert main(["generate", str(tmp_path / "plain.snn")]) == 1
    assert "no character vocabulary" in capsys.readouterr().err
