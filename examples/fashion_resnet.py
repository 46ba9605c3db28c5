"""Fashion-MNIST with a small residual network (functional API), trained beside the same network in PyTorch.

    stem:    Conv2D(32, 3) -> BatchNormalization -> ReLU -> MaxPooling2D(2)      (28, 28, 1) -> (14, 14, 32)
    stage 1: residual block, 32 channels                                         -> (14, 14, 32)
    stage 2: residual block, 64 channels, stride 2 (1x1 strided projection)      -> (7, 7, 64)
    stage 3: residual block, 128 channels, stride 2 (1x1 strided projection)     -> (4, 4, 128)
    GlobalAveragePooling2D -> Dense(10)

The stem pools at once, so that the three stages run on 14x14, 7x7 and 4x4 maps: the same multiply-adds as
16/32/64 channels on 28x28, 14x14 and 7x7 (about 10 million a sample), four times the weights, and half the
values each elementwise layer passes over.

A block is conv-BN-ReLU-conv-BN plus its input (or its 1x1 strided projection, with BN), then ReLU.
SGD with Nesterov momentum 0.9 and weight decay 5e-4, the 1cycle learning-rate schedule (peak 0.1),
random horizontal flips (and, with --shift S, moves of up to S pixels each way: a random crop of the image inside a
zero border). The last 6,000 training images are held out for validation; the test set is used once, at the end.

The same architecture in PyTorch starts from the same weights (copied, then checked: the forward outputs
of both agree before training) and trains on the same batches (the same order, flips and moves), with the same
optimizer and the same learning rate at every step. scratchnn trains first, then PyTorch (never
interleaved: NumPy's BLAS threads would steal the cores from PyTorch's), each with the same number of
threads. Both test accuracies and training times are printed, and their ratio.

The data: `make fashion` (Debian's dataset-fashion-mnist) or --data DIR with the four IDX files.

Run: python examples/fashion_resnet.py [--epochs 12] [--batch-size 128] [--limit N] [--no-torch] [--seed 0] [--shift 0]
                                    [--label-smoothing 0]
"""
import argparse
import os
import resource
import time

import numpy as np

import scratchnn as snn
from scratchnn import layers, losses, optim, schedules

WIDTHS = (32, 64, 128)         # channels of the three stages
STEM_POOL = 2                  # the max pooling after the stem convolution
VALIDATION = 0.1               # the fraction of the training images held out
MOMENTUM, WEIGHT_DECAY, PEAK_RATE = 0.9, 5e-4, 0.1
BN_MOMENTUM, BN_EPSILON = 0.9, 1e-5   # PyTorch's defaults (its momentum 0.1 is 1 - ours)
SHIFT = 0                      # pixels a training image is moved by at most, each way (--shift)


def stage_plan(widths=WIDTHS, blocks=1):
    """(block name, channels, stride) of every residual block: each stage after the first halves the size."""
    return [(f"stage{s + 1}_block{b + 1}", width, 2 if s and not b else 1)
            for s, width in enumerate(widths) for b in range(blocks)]


def conv_bn(x, filters, kernel, stride, name):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn")(x)


def resnet(plan, seed=0):
    """The scratchnn network: the stem (convolution, BN, ReLU, pooling), one residual block per entry of plan,
    global average pooling, Dense(10)."""
    image = snn.Input(shape=(28, 28, 1), name="image")
    x = layers.ReLU(name="stem_relu")(conv_bn(image, plan[0][1], 3, 1, "stem"))
    x = layers.MaxPooling2D(STEM_POOL, name="stem_pool")(x)
    for name, filters, stride in plan:
        y = layers.ReLU(name=f"{name}_relu_a")(conv_bn(x, filters, 3, stride, f"{name}_a"))
        y = conv_bn(y, filters, 3, 1, f"{name}_b")
        shortcut = x if stride == 1 and x.shape[-1] == filters else conv_bn(x, filters, 1, stride, f"{name}_proj")
        x = layers.ReLU(name=f"{name}_relu")(layers.Add(name=f"{name}_add")([y, shortcut]))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return snn.Model(image, layers.Dense(10, name="logits")(x), name="fashion_resnet", seed=seed)


def torch_resnet(model, plan, torch):
    """The same network in PyTorch (NCHW), every weight and BatchNorm statistic copied from ``model``."""
    nn, functional = torch.nn, torch.nn.functional

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs, self.norms, self.pads = nn.ModuleDict(), nn.ModuleDict(), {}
            for layer in model.layers:
                name = layer.name.rsplit("_", 1)[0]
                if isinstance(layer, layers.Conv2D):
                    (top, bottom), (left, right) = layer.pads          # "same": TensorFlow's rule, odd pad last
                    symmetric = top == bottom == left == right
                    self.convs[name] = nn.Conv2d(layer.input_shape[-1], layer.filters, layer.kernel_size,
                                                 layer.strides, padding=top if symmetric else 0, bias=False)
                    self.pads[name] = None if symmetric else (left, right, top, bottom)
                elif isinstance(layer, layers.BatchNormalization):
                    self.norms[name] = nn.BatchNorm2d(layer.params["gamma"].shape[0], eps=BN_EPSILON,
                                                      momentum=1 - BN_MOMENTUM)
            self.logits = nn.Linear(plan[-1][1], 10)

        def conv_bn(self, x, name):
            if self.pads[name] is not None:
                x = functional.pad(x, self.pads[name])
            return self.norms[name](self.convs[name](x))

        def forward(self, x):
            x = functional.max_pool2d(functional.relu(self.conv_bn(x, "stem")), STEM_POOL)
            for name, _, _ in plan:
                y = self.conv_bn(functional.relu(self.conv_bn(x, f"{name}_a")), f"{name}_b")
                shortcut = self.conv_bn(x, f"{name}_proj") if f"{name}_proj" in self.convs else x
                x = functional.relu(y + shortcut)
            return self.logits(x.mean(dim=(2, 3)))

    net = ResNet()
    tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    with torch.no_grad():
        for layer in model.layers:
            name = layer.name.rsplit("_", 1)[0]
            if isinstance(layer, layers.Conv2D):                        # (kh, kw, in, out) -> (out, in, kh, kw)
                net.convs[name].weight.copy_(tensor(layer.params["kernel"].transpose(3, 2, 0, 1)))
            elif isinstance(layer, layers.BatchNormalization):
                norm = net.norms[name]
                for target, source in ((norm.weight, layer.params["gamma"]), (norm.bias, layer.params["beta"]),
                                       (norm.running_mean, layer.buffers["moving_mean"]),
                                       (norm.running_var, layer.buffers["moving_variance"])):
                    target.copy_(tensor(source))
            elif isinstance(layer, layers.Dense):
                net.logits.weight.copy_(tensor(layer.params["kernel"].T))
                net.logits.bias.copy_(tensor(layer.params["bias"]))
    return net


def epoch_batches(x, y, batch_size, seed, epoch, shift=SHIFT):
    """The batches of one epoch, the same for both libraries, all drawn from (seed, epoch): a permutation, a
    horizontal flip of about half of the images, and a move of every image by up to ``shift`` pixels each way
    (a random 28x28 crop of the image inside a zero border of ``shift`` pixels)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(x))
    flip = rng.random(len(x)) < 0.5
    moves = rng.integers(0, 2 * shift + 1, size=(len(x), 2))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        xb = x[idx]
        xb[flip[start:start + batch_size]] = xb[flip[start:start + batch_size], :, ::-1]
        if shift:
            xb = random_crops(xb, moves[start:start + batch_size], shift)
        yield xb, y[idx]


def random_crops(images, corners, border):
    """images (N, H, W, C) inside a zero border, then the (H, W) window at corners[n] = (row, column) of image n."""
    padded = np.pad(images, ((0, 0), (border, border), (border, border), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, images.shape[1:3], axis=(1, 2))  # (N, r, c, C, H, W)
    crops = windows[np.arange(len(images)), corners[:, 0], corners[:, 1]]                       # (N, C, H, W)
    return np.ascontiguousarray(crops.transpose(0, 2, 3, 1))


def cpu_seconds():
    """CPU time of this process (every thread) and of its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Trained:
    """What one library's run gave: losses per batch, validation accuracy per epoch, times, test accuracy."""

    def __init__(self, name):
        self.name, self.losses, self.val_accuracy = name, [], []
        self.seconds = self.cpu = self.validation_seconds = 0.0
        self.test_accuracy = None

    def line(self):
        return (f"{self.name:9}: test accuracy {self.test_accuracy:.2%}; training {self.seconds:.1f}s wall "
                f"({self.validation_seconds:.1f}s of it validation), {self.cpu:.1f}s CPU")


def train(name, step, accuracy, data, epochs, batch_size, seed, shift=SHIFT):
    """Run ``step(xb, yb) -> loss`` over every epoch's batches, ``accuracy(x, y)`` on the validation split after
    each epoch, and time it all; prints one line per epoch."""
    (x_train, y_train), (x_val, y_val) = data
    run = Trained(name)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        losses = [step(xb, yb) for xb, yb in epoch_batches(x_train, y_train, batch_size, seed, epoch, shift)]
        validation_start = time.perf_counter()
        run.val_accuracy.append(accuracy(x_val, y_val))
        run.validation_seconds += time.perf_counter() - validation_start
        run.losses.extend(losses)
        print(f"{name:9} epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f} (first batch {losses[0]:.4f}, "
              f"last {losses[-1]:.4f}), val accuracy {run.val_accuracy[-1]:.2%}, "
              f"{time.perf_counter() - epoch_start:.1f}s", flush=True)
    run.seconds, run.cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    return run


def main(epochs=12, batch_size=128, limit=None, use_torch=True, seed=0, data=None, shift=SHIFT, smoothing=0.0):
    torch = None
    if use_torch:
        import torch
        torch.set_num_threads(snn.backend.get_num_threads())        # the same number of threads for both
    (x_train, y_train), (x_test, y_test) = snn.datasets.load_fashion_mnist(data)
    if limit:
        (x_train, y_train), (x_test, y_test) = (x_train[:limit], y_train[:limit]), (x_test[:limit], y_test[:limit])
    x_train = (x_train[..., None] / np.float32(255)).astype(np.float32)
    x_test = (x_test[..., None] / np.float32(255)).astype(np.float32)
    split = len(x_train) - int(len(x_train) * VALIDATION)
    data = (x_train[:split], y_train[:split]), (x_train[split:], y_train[split:])
    steps = epochs * -(-split // batch_size)
    schedule = schedules.OneCycle(PEAK_RATE, total_steps=steps)
    print(f"{split:,} training, {len(x_train) - split:,} validation, {len(x_test):,} test images; {epochs} epochs "
          f"of {-(-split // batch_size)} batches of {batch_size}; {snn.backend.get_num_threads()} threads; "
          f"load average {os.getloadavg()[0]:.2f}")

    plan = stage_plan()
    model = resnet(plan, seed)
    model.compile(loss=losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing),
                  metrics=["accuracy"],
                  optimizer=optim.SGD(schedule, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY))
    print(f"{model.count_params():,} parameters; {len(model.layers)} layers")
    net = torch_resnet(model, plan, torch) if use_torch else None
    if use_torch:                                   # the two start equal: compare their outputs before training
        net.eval()
        sample = x_test[:256]
        with torch.no_grad():
            theirs = net(to_nchw(sample, torch)).numpy()
        difference = np.abs(model.predict(sample) - theirs).max()
        print(f"initial outputs on {len(sample)} test images: largest difference scratchnn - pytorch "
              f"{difference:.1e}")

    def accuracy(x, y):
        return model.evaluate(x, y, batch_size=500)["accuracy"]
    ours = train("scratchnn", model.train_on_batch, accuracy, data, epochs, batch_size, seed, shift)
    ours.test_accuracy = accuracy(x_test, y_test)
    runs = [ours]
    if use_torch:
        runs.append(train_torch(net, schedule, data, epochs, batch_size, seed, torch, shift, smoothing))
        runs[1].test_accuracy = torch_accuracy(net, x_test, y_test, torch)
    for run in runs:
        print(run.line())
    if use_torch:
        print(f"scratchnn / pytorch training time: {ours.seconds / runs[1].seconds:.2f}x wall, "
              f"{ours.cpu / runs[1].cpu:.2f}x CPU")
    return {"model": model, "net": net, "runs": runs}


def to_nchw(x, torch):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def torch_accuracy(net, x, y, torch):
    net.eval()
    with torch.no_grad():
        predicted = np.concatenate([net(to_nchw(x[i:i + 500], torch)).argmax(1).numpy()
                                    for i in range(0, len(x), 500)])
    return float(np.mean(predicted == y))


def train_torch(net, schedule, data, epochs, batch_size, seed, torch, shift=SHIFT, smoothing=0.0):
    """PyTorch's run: SGD as scratchnn's (torch.optim.SGD is the same update), the rate set from the same schedule."""
    opt = torch.optim.SGD(net.parameters(), lr=schedule(0), momentum=MOMENTUM, nesterov=True,
                          weight_decay=WEIGHT_DECAY)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)
    count = [0]

    def step(xb, yb):
        net.train()
        for group in opt.param_groups:
            group["lr"] = schedule(count[0])
        count[0] += 1
        opt.zero_grad()
        loss = loss_fn(net(to_nchw(xb, torch)), torch.from_numpy(yb.astype(np.int64)))
        loss.backward()
        opt.step()
        return loss.item()
    return train("pytorch", step, lambda x, y: torch_accuracy(net, x, y, torch), data, epochs, batch_size, seed,
                 shift)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training and N test images")
    parser.add_argument("--no-torch", action="store_true", help="train scratchnn only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shift", type=int, default=SHIFT, help="move training images by up to this many pixels")
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="train on targets y (1 - s) + s / 10")
    parser.add_argument("--data", default=None, help="folder with the four Fashion-MNIST IDX files")
    args = parser.parse_args()
    main(args.epochs, args.batch_size, args.limit, not args.no_torch, args.seed, args.data, args.shift,
         args.label_smoothing)
