"""Sequential digits: an LSTM reads each embedded digit row by row (28 steps of 28 pixels), against a PyTorch
LSTM of the same size trained on the same schedule in the same run.

    LSTM(128)  (28, 28) -> (128,)       the last step's h
    Dense(10)

The training images are moved by up to 2 pixels along each axis (a new draw per batch), Adam (epsilon 1e-7,
as Keras's), the learning rate warming up from 2e-4 to 2e-3 over the first epoch and
then a half cosine down to 0 (schedules.warmup_cosine), batch 128. Both models start from the same weights
(ours mapped onto nn.LSTM: Keras's gate order i, f, c, o is PyTorch's i, f, g, o; kernel = weight_ih^T,
bias = bias_ih, bias_hh = 0) and see the same batches in the same order; only the arithmetic differs.
The test accuracy is on the 2,000 held-out digits. --threads 1 is the fast setting on a busy machine (BLAS
threads that wait for a core cost more than they bring at these sizes); it applies to both.

`python examples/digits_lstm.py --threads 1` printed, on the busy 2-core development machine:

    scratchnn LSTM(128): test accuracy 97.25% on 2000 held-out digits, 20 epochs, 335s of training
    PyTorch   LSTM(128): test accuracy 97.20% on 2000 held-out digits, 20 epochs, 297s of training

Run: python examples/digits_lstm.py [--epochs 20] [--units 128] [--seed 0] [--threads 1] [--shift 2]
                                    [--dropout 0.0] [--no-torch]
"""
import argparse
import time

import numpy as np

import scratchnn as snn
from scratchnn import layers, optim, schedules


def lstm_model(units, seed, dropout=0.0):
    stack = [layers.LSTM(units)] + ([layers.Dropout(dropout)] if dropout else []) + [layers.Dense(10)]
    return snn.Sequential(stack, input_shape=(28, 28), seed=seed)


def torch_twin(model, dropout=0.0):
    """nn.LSTM (+ nn.Dropout) + nn.Linear holding the scratchnn model's weights."""
    import torch
    lstm, dense = model.layers[0], model.layers[-1]
    net = torch.nn.ModuleDict({"lstm": torch.nn.LSTM(28, lstm.units, batch_first=True),
                               "dropout": torch.nn.Dropout(dropout), "dense": torch.nn.Linear(lstm.units, 10)})
    with torch.no_grad():
        net["lstm"].weight_ih_l0.copy_(torch.from_numpy(lstm.params["kernel"].T.copy()))
        net["lstm"].weight_hh_l0.copy_(torch.from_numpy(lstm.params["recurrent_kernel"].T.copy()))
        net["lstm"].bias_ih_l0.copy_(torch.from_numpy(lstm.params["bias"]))
        net["lstm"].bias_hh_l0.zero_()
        net["dense"].weight.copy_(torch.from_numpy(dense.params["kernel"].T.copy()))
        net["dense"].bias.copy_(torch.from_numpy(dense.params["bias"]))
    return net


def shifted(images, rng, shift):
    """Each image moved by up to ``shift`` pixels along both axes (zeros come in): the same augmented batch goes
    to both models."""
    if shift == 0:
        return images
    n, size = len(images), images.shape[1]
    padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift)))
    rows = rng.integers(0, 2 * shift + 1, n)[:, None] + np.arange(size)           # (n, 28) source rows
    cols = rng.integers(0, 2 * shift + 1, n)[:, None] + np.arange(size)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def torch_logits(net, x):
    out, _ = net["lstm"](x)
    return net["dense"](net["dropout"](out[:, -1]))


def main(epochs=20, units=128, seed=0, batch_size=128, peak_learning_rate=2e-3, threads=None, compare=True,
         dropout=0.0, shift=2):
    if threads is not None:
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads)
        snn.backend.cpu.set_num_threads(threads)
    (x_train, y_train), (x_test, y_test) = snn.datasets.load_digits()
    x_train, x_test = x_train / np.float32(255), x_test / np.float32(255)     # (N, 28, 28): 28 steps of 28

    steps_per_epoch = -(-len(x_train) // batch_size)
    rate = schedules.warmup_cosine(peak_learning_rate, epochs, steps_per_epoch)
    model = lstm_model(units, seed, dropout)
    model.compile(loss="categorical_crossentropy", from_logits=True, optimizer=optim.Adam(rate),
                  metrics=["accuracy"])
    model.summary()
    if compare:
        import torch
        if threads is not None:
            torch.set_num_threads(threads)
        net = torch_twin(model, dropout)
        torch_opt = torch.optim.Adam(net.parameters(), lr=rate(0), eps=1e-7)
        loss_fn = torch.nn.CrossEntropyLoss()

    order_rng = np.random.default_rng(seed)
    seconds = {"scratchnn": 0.0, "PyTorch": 0.0}
    step = 0
    for epoch in range(epochs):
        order = order_rng.permutation(len(x_train))                             # the same batches for both
        losses = {"scratchnn": 0.0, "PyTorch": 0.0}
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            xb, yb = shifted(x_train[batch], order_rng, shift), y_train[batch]
            start = time.perf_counter()
            losses["scratchnn"] += model.train_on_batch(xb, yb) * len(batch)
            seconds["scratchnn"] += time.perf_counter() - start
            if compare:
                start = time.perf_counter()
                for group in torch_opt.param_groups:
                    group["lr"] = rate(step)
                torch_opt.zero_grad()
                loss = loss_fn(torch_logits(net, torch.from_numpy(xb)), torch.from_numpy(yb.astype(np.int64)))
                loss.backward()
                torch_opt.step()
                losses["PyTorch"] += loss.item() * len(batch)
                seconds["PyTorch"] += time.perf_counter() - start
            step += 1
        line = f"epoch {epoch + 1:2d}/{epochs}  loss: scratchnn {losses['scratchnn'] / len(order):.4f}"
        if compare:
            line += f", PyTorch {losses['PyTorch'] / len(order):.4f}"
        print(line, flush=True)

    result = model.evaluate(x_test, y_test)
    print(f"scratchnn LSTM({units}): test accuracy {result['accuracy']:.2%} on {len(x_test)} held-out digits, "
          f"{epochs} epochs, {seconds['scratchnn']:.0f}s of training")
    if compare:
        net.eval()
        with torch.no_grad():
            predicted = torch_logits(net, torch.from_numpy(x_test)).argmax(1).numpy()
        torch_accuracy = float(np.mean(predicted == y_test))
        print(f"PyTorch   LSTM({units}): test accuracy {torch_accuracy:.2%} on {len(x_test)} held-out digits, "
              f"{epochs} epochs, {seconds['PyTorch']:.0f}s of training")
        result["torch_accuracy"] = torch_accuracy
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--dropout", type=float, default=0.0, help="a Dropout layer between the LSTM and Dense")
    parser.add_argument("--shift", type=int, default=2, help="training images moved by up to this many pixels")
    parser.add_argument("--no-torch", dest="compare", action="store_false")
    args = parser.parse_args()
    main(args.epochs, args.units, args.seed, threads=args.threads, compare=args.compare, dropout=args.dropout,
         shift=args.shift)
