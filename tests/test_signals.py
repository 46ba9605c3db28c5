"""Real signals (issue 19): SIGINT and SIGTERM sent to `scratchnn train`, and kill -9 during checkpointing.

SIGTERM (docker stop, systemd, timeout) is handled as Ctrl-C: the batch finishes, nothing is written to
--out, the last checkpoint is named, exit 130 for SIGINT and 143 for SIGTERM. kill -9 while ModelCheckpoint
writes leaves the previous complete checkpoint, and the next write removes the killed writer's temporary."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import scratchnn as snn
from scratchnn import layers

ONE_THREAD = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.mark.slow
@pytest.mark.parametrize("sent, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_train_stops_cleanly_on_a_real_signal(tmp_path, sent, status):
    config = tmp_path / "tiny.json"
    model = snn.Sequential([layers.Dense(16, activation="relu"), layers.Dense(10)], input_shape=(784,), seed=3)
    config.write_text(json.dumps(model.get_config()))
    out, folder = tmp_path / "out.snn", tmp_path / "checkpoints"
    process = subprocess.Popen([sys.executable, "-m", "scratchnn", "train", "--model", str(config), "--limit", "100",
                                "--epochs", "100000", "--verbose", "2", "--out", str(out), "--checkpoint", str(folder)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ONE_THREAD)
    try:
        epochs = 0
        for line in process.stdout:
            epochs += line.startswith("Epoch")
            if epochs == 2:
                break
        process.send_signal(sent)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == status, err
    assert not out.exists()
    names = sorted(path.name for path in folder.iterdir())
    assert all(name.endswith(".snn") and not name.startswith(".") for name in names), names
    last = folder / names[-1]
    assert f"nothing written to {out}; the last good checkpoint is {last}" in err
    assert snn.load_model(last).count_params() == 16 * 785 + 10 * 17


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import scratchnn as snn
    from scratchnn import callbacks, layers
    model = snn.Sequential([layers.Dense(600), layers.Dense(600)], input_shape=(600,), seed=0)
    model.compile(loss="mse", optimizer="adam")
    x = np.ones((8, 600), np.float32)
    print("ready", flush=True)
    model.fit(x, x, epochs=int(sys.argv[2]), batch_size=8, verbose=0,
              callbacks=[callbacks.ModelCheckpoint(sys.argv[1], monitor="loss")])
""")


@pytest.mark.slow
def test_kill_9_during_checkpointing_leaves_a_whole_file_and_the_next_write_cleans_up(tmp_path):
    target = tmp_path / "ckpt.snn"
    rng = np.random.default_rng(0)
    killed_during_write = 0
    for _ in range(4):
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(target), "1000000"], stdout=subprocess.PIPE,
                                   text=True, env=ONE_THREAD)
        assert process.stdout.readline().strip() == "ready"
        time.sleep(0.5 + rng.uniform(0, 1.0))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
        killed_during_write += any(path.name.endswith(".tmp") for path in tmp_path.iterdir())
        if target.exists():
            assert snn.load_model(target).count_params() == 2 * 600 * 601           # whole, never a part
    subprocess.run([sys.executable, "-c", WRITER, str(target), "1"], check=True, env=ONE_THREAD,
                   stdout=subprocess.DEVNULL)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ckpt.snn"]       # no stray temporary left
    assert snn.load_model(target).count_params() == 2 * 600 * 601
    print(f"{killed_during_write} of 4 kills landed during a write")
