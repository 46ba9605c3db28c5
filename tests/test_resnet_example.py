"""examples/fashion_resnet.py run small: it trains, and its PyTorch twin starts from equal weights and follows it."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import require

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fashion_resnet.py"


def load_example():
    spec = importlib.util.spec_from_file_location("fashion_resnet", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example():
    return load_example()


@pytest.fixture(scope="module")
def idx_folder(tmp_path_factory):
    """A learnable Fashion-MNIST stand-in in the four IDX files: each class a fixed pattern, plus noise."""
    from scratchnn.datasets import mnist, write_idx
    folder = tmp_path_factory.mktemp("fashion")
    rng = np.random.default_rng(0)
    templates = rng.random((10, 28, 28)) < 0.3
    for part, count in (("train", 384), ("t10k", 128)):
        labels = rng.integers(0, 10, count)
        images = np.clip(templates[labels] * 200 + rng.normal(30, 30, (count, 28, 28)), 0, 255)
        write_idx(folder / f"{part}-images-idx3-ubyte.gz", images.astype(np.uint8))
        write_idx(folder / f"{part}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    assert sorted(p.name for p in folder.iterdir()) == sorted(f + ".gz" for f in mnist.FILES)
    return folder


@pytest.fixture(scope="module")
def run(example, idx_folder):
    require("torch")
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = example.main(epochs=2, batch_size=64, data=idx_folder)
    return result, out.getvalue()


def test_the_torch_twin_starts_from_the_same_outputs(example):
    torch = require("torch")
    plan = example.stage_plan()
    model = example.resnet(plan, seed=3)
    net = example.torch_resnet(model, plan, torch).eval()
    x = np.random.default_rng(1).random((16, 28, 28, 1), dtype=np.float32)
    with torch.no_grad():
        theirs = net(example.to_nchw(x, torch)).numpy()
    ours = model.predict(x)
    assert np.abs(ours - theirs).max() < 1e-5 * max(1.0, np.abs(ours).max())
    with torch.no_grad():                                           # the comparison sees a wrong weight
        net.convs["stage2_block1_proj"].weight[0, 0, 0, 0] += 0.5
        assert np.abs(ours - net(example.to_nchw(x, torch)).numpy()).max() > 1e-3


def test_strided_convolutions_pad_as_scratchnn_does(example):
    torch = require("torch")
    plan = example.stage_plan()
    net = example.torch_resnet(example.resnet(plan, seed=0), plan, torch)
    assert net.pads["stage2_block1_a"] == (0, 1, 0, 1) and net.pads["stage2_block1_proj"] is None
    assert net.pads["stem"] is None and net.convs["stem"].padding == (1, 1)
    assert [name for name, _, stride in plan if stride == 2] == ["stage2_block1", "stage3_block1"]


def test_both_train_on_the_same_batches_and_the_loss_falls(run):
    result, out = run
    ours, theirs = result["runs"]
    assert len(ours.losses) == len(theirs.losses) == 2 * 6                    # 346 training images, batches of 64
    assert ours.losses[0] == pytest.approx(theirs.losses[0], rel=1e-5)       # same weights, same first batch
    assert ours.losses[1] == pytest.approx(theirs.losses[1], rel=1e-4)       # same update (SGD, rate, decay)
    np.testing.assert_allclose(ours.losses, theirs.losses, rtol=0.05)
    for run_ in (ours, theirs):
        assert np.mean(run_.losses[-6:]) < 0.85 * np.mean(run_.losses[:6])    # the second epoch's loss is lower
        assert run_.test_accuracy > 0.3 and run_.val_accuracy[-1] > 0.3       # chance is 0.1, after 12 steps
    assert abs(ours.test_accuracy - theirs.test_accuracy) <= 0.1
    difference = float(re.search(r"largest difference scratchnn - pytorch (\S+)", out).group(1))
    assert difference < 1e-5


def test_the_printed_summary(run):
    _, out = run
    lines = out.splitlines()
    assert lines[0].startswith("346 training, 38 validation, 128 test images; 2 epochs of 6 batches of 64;")
    assert lines[1] == "308,074 parameters; 31 layers"
    assert lines[2].startswith("initial outputs on 128 test images: largest difference scratchnn - pytorch ")
    assert sum(line.startswith("scratchnn epoch ") for line in lines) == 2
    assert sum(line.startswith("pytorch   epoch ") for line in lines) == 2
    assert re.fullmatch(r"scratchnn: test accuracy \d+\.\d\d%; training \d+\.\ds wall \(\d+\.\ds of it "
                        r"validation\), \d+\.\ds CPU", lines[-3])
    assert lines[-2].startswith("pytorch  : test accuracy ")
    assert re.fullmatch(r"scratchnn / pytorch training time: \d+\.\d\dx wall, \d+\.\d\dx CPU", lines[-1])


def test_the_command_line_without_torch(idx_folder):
    command = [sys.executable, str(EXAMPLE), "--data", str(idx_folder), "--limit", "128", "--epochs", "1",
               "--batch-size", "32", "--seed", "1", "--no-torch"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.startswith("116 training, 12 validation, 128 test images; 1 epochs of 4 batches of 32;")
    assert "pytorch" not in out and re.search(r"^scratchnn: test accuracy ", out, re.MULTILINE)


def test_shifted_batches_are_crops_of_the_images_inside_a_zero_border(example):
    images = np.arange(2 * 5 * 5, dtype=np.float32).reshape(2, 5, 5, 1) + 1
    crops = example.random_crops(images, np.array([[2, 2], [0, 4]]), 2)
    np.testing.assert_array_equal(crops[0], images[0])                 # corner (2, 2): not moved
    expected = np.zeros((5, 5, 1), np.float32)                         # corner (0, 4): 2 rows down, 2 columns left
    expected[2:, :3] = images[1, :3, 2:]
    np.testing.assert_array_equal(crops[1], expected)
    x = np.random.default_rng(0).random((40, 28, 28, 1)).astype(np.float32)
    labels = np.arange(40)
    plain = list(example.epoch_batches(x, labels, 16, 0, 0, shift=0))
    moved = list(example.epoch_batches(x, labels, 16, 0, 0, shift=2))
    assert [len(b) for b, _ in moved] == [16, 16, 8]
    for (xb, yb), (xm, ym) in zip(plain, moved):                       # the same order and flips, then moved
        np.testing.assert_array_equal(yb, ym)
        assert xm.flags.c_contiguous and xm.shape == xb.shape
        assert np.all(xm.sum(axis=(1, 2, 3)) <= xb.sum(axis=(1, 2, 3)) + 1e-4)    # a crop loses pixels, adds 0s
        assert np.any(xm != xb)
