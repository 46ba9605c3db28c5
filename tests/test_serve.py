"""scratchnn serve over real HTTP: a server started as `python -m scratchnn serve` on a free port of 127.0.0.1.

Predictions equal the library's, concurrent requests are batched and each gets its own answer, explanations
equal scratchnn.explain's, the Playground streams a falling loss, and every bad request is a 4xx with one
line of JSON.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from conftest import require

require("starlette")                  # the serve extra (pip install -e '.[serve]'); the test extra has it too
require("uvicorn")
httpx = require("httpx")

import scratchnn as snn  # noqa: E402
from scratchnn import layers  # noqa: E402
from scratchnn.backend.special import softmax  # noqa: E402
from scratchnn.cli.inputs import read_image  # noqa: E402
from scratchnn.tutorial import TrainableNeuralNetwork  # noqa: E402

STATIC = Path(snn.__file__).parent / "serve" / "static"
SOURCE = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(model_path, *options: str, timeout: float = 60.0):
    """A `scratchnn serve MODEL` process on a free port; yields its base URL and stops it afterwards."""
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SOURCE), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "scratchnn", "serve", str(model_path), "--port", str(port),
                                "--log-level", "warning", *options], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"scratchnn serve exited with {process.returncode}: {process.stdout.read()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"scratchnn serve did not answer on {base} within {timeout:g} s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.fixture(scope="module")
def image_model(tmp_path_factory):
    """A small untrained image classifier (28 x 28 x 1 -> 10) saved to a .snn file: (path, model)."""
    model = snn.Sequential([layers.Flatten(), layers.Dense(16, activation="relu"), layers.Dense(10)],
                           input_shape=(28, 28, 1), seed=3)
    path = tmp_path_factory.mktemp("serve") / "image.snn"
    model.save(path)
    return path, snn.load_model(path)


@pytest.fixture(scope="module")
def server(image_model):
    with serving(image_model[0], "--max-body-mb", "1", "--max-delay-ms", "5") as base:
        yield base


def probabilities(model, x):
    return softmax(model.predict(np.asarray(x, dtype=np.float32)).astype(np.float64), axis=1)


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_healthz_model_openapi_and_docs(server, image_model):
    assert httpx.get(f"{server}/healthz").json()["status"] == "ok"
    described = httpx.get(f"{server}/v1/model").json()
    assert described["input_shape"] == [28, 28, 1] and described["output_shape"] == [10]
    assert described["classes"] == 10 and described["class_names"] == [str(c) for c in range(10)]
    assert described["version"] == snn.__version__ and described["image"] == [28, 28, 1]
    assert described["parameters"] == image_model[1].count_params() and "Dense" in described["summary"]
    schema = httpx.get(f"{server}/openapi.json").json()
    assert schema["openapi"].startswith("3.") and {"/v1/predict", "/v1/explain", "/v1/model", "/healthz",
                                                   "/v1/playground/train"} <= set(schema["paths"])
    from scratchnn.serve.playground import RunConfig
    for parameter in schema["paths"]["/v1/playground/train"]["get"]["parameters"]:   # the schema's defaults are
        assert parameter["schema"]["default"] == getattr(RunConfig(), parameter["name"])   # the server's
    docs = httpx.get(f"{server}/docs")
    assert docs.status_code == 200 and "/static/docs.js" in docs.text


def test_the_page_loads_only_local_files(server):
    """Every file the page names is served here, and no static file names another host (no CDN)."""
    page = httpx.get(f"{server}/").text
    for name in ("style.css", "common.js", "digits.js", "playground.js", "network.js"):
        assert f"/static/{name}" in page
        assert httpx.get(f"{server}/static/{name}").status_code == 200
    for path in STATIC.iterdir():
        text = path.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name


def test_predict_json_one_sample_and_a_batch_equal_the_library(server, image_model):
    rng = np.random.default_rng(0)
    batch = rng.random((3, 28, 28, 1)).astype(np.float32)
    one = httpx.post(f"{server}/v1/predict", json={"inputs": batch[0].reshape(-1).tolist()}).json()
    assert len(one["predictions"]) == 1
    answer = httpx.post(f"{server}/v1/predict?top=2", json={"inputs": batch.tolist()}).json()
    expected = probabilities(image_model[1], batch)
    got = np.array([p["probabilities"] for p in answer["predictions"]])
    np.testing.assert_allclose(got, expected, atol=2e-6)
    np.testing.assert_allclose(one["predictions"][0]["probabilities"], expected[0], atol=2e-6)
    assert [p["class"] for p in answer["predictions"]] == expected.argmax(axis=1).tolist()
    assert all(len(p["top"]) == 2 for p in answer["predictions"])


def test_predict_npy_multipart_and_image_uploads_read_as_the_cli_reads_them(server, image_model, tmp_path):
    model = image_model[1]
    pixels = np.random.default_rng(1).integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
    expected = probabilities(model, pixels.reshape(2, 28, 28, 1).astype(np.float32))    # as stored, as in predict
    raw = httpx.post(f"{server}/v1/predict", content=npy_bytes(pixels), headers={"Content-Type": "application/x-npy"})
    form = httpx.post(f"{server}/v1/predict", files={"file": ("digits.npy", npy_bytes(pixels))})
    for answer in (raw, form):
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose([p["probabilities"] for p in answer.json()["predictions"]], expected, atol=2e-6)
    from PIL import Image
    picture = tmp_path / "digit.png"
    Image.fromarray(255 - pixels[0]).resize((56, 56)).save(picture)                  # dark ink on light paper
    expected = probabilities(model, read_image(picture, model.input_shape)[None])
    for answer in (httpx.post(f"{server}/v1/predict", content=picture.read_bytes(),
                              headers={"Content-Type": "image/png"}),
                   httpx.post(f"{server}/v1/predict", files={"image": ("digit.png", picture.read_bytes())})):
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(answer.json()["predictions"][0]["probabilities"], expected[0], atol=2e-6)


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(server, image_model):
    rng = np.random.default_rng(2)
    samples = rng.random((48, 784)).astype(np.float32)
    expected = probabilities(image_model[1], samples.reshape(-1, 28, 28, 1))
    before = httpx.get(f"{server}/healthz").json()["batching"]
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda row: client.post(f"{server}/v1/predict", json={"inputs": row.tolist()}),
                                samples))
    assert [a.status_code for a in answers] == [200] * len(samples)
    got = np.array([a.json()["predictions"][0]["probabilities"] for a in answers])
    np.testing.assert_allclose(got, expected, atol=2e-6)
    after = httpx.get(f"{server}/healthz").json()["batching"]
    requests, batches = after["requests"] - before["requests"], after["batches"] - before["batches"]
    assert requests == len(samples)
    assert batches < requests and after["largest_batch"] > 1              # some requests shared a forward pass


def test_explain_json_equals_scratchnn_explain_and_png_is_a_heat_map(server, image_model):
    model = image_model[1]
    sample = np.random.default_rng(4).random((28, 28, 1)).astype(np.float32)
    answer = httpx.post(f"{server}/v1/explain?method=saliency&target=3", json={"inputs": sample.tolist()}).json()
    assert answer["target"] == 3 and answer["shape"] == [28, 28, 1]
    expected = snn.explain.saliency(model, sample, target=3)
    np.testing.assert_allclose(np.reshape(answer["attributions"], (28, 28, 1)), expected, rtol=1e-4, atol=1e-7)
    png = httpx.post(f"{server}/v1/explain?format=png&method=integrated-gradients&steps=8",
                     json={"inputs": sample.tolist()})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    from PIL import Image
    with Image.open(io.BytesIO(png.content)) as image:
        assert image.size == (280, 280) and image.mode == "RGB"


def test_playground_streams_frames_with_a_falling_loss(server):
    events = []
    url = (f"{server}/v1/playground/train?dataset=moons&layers=1&width=8&optimizer=adam&learning_rate=0.05"
           "&epochs=60&frames=6&grid=16")
    with httpx.stream("GET", url, timeout=60) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    names = [name for name, _ in events]
    assert names[0] == "setup" and names[-1] == "done" and set(names[1:-1]) == {"frame"}
    setup, frames = events[0][1], [data for name, data in events if name == "frame"]
    assert setup["classes"] == 2 and len(setup["points"]) == 200 and setup["network"] == [2, 8, 1]
    assert frames[0]["epoch"] == 0 and frames[-1]["epoch"] == 60
    assert frames[-1]["loss"] < 0.8 * frames[0]["loss"]
    assert len(frames[-1]["classes"]) == 16 * 16 and frames[-1]["classes"] != frames[0]["classes"]


def test_a_playground_run_stops_when_its_page_goes_away(server):
    url = f"{server}/v1/playground/train?dataset=spirals&epochs=5000&frames=500"
    with httpx.stream("GET", url, timeout=30) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "event: setup"
        assert httpx.get(f"{server}/healthz").json()["playground_runs"] == 1
    deadline = time.monotonic() + 10
    while httpx.get(f"{server}/healthz").json()["playground_runs"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(f"{server}/healthz").json()["playground_runs"] == 0


def test_batcher_fills_batches_up_to_the_size_and_sends_a_large_request_alone():
    import asyncio

    from scratchnn.serve.batching import Batcher
    calls = []

    def predict(x):
        calls.append(len(x))
        return x * 2

    async def scenario():
        batcher = Batcher(predict, max_batch_size=4, max_delay=0.05)
        await batcher.start()
        try:
            blocks = [np.full((1, 3), i, dtype=np.float32) for i in range(6)] + [np.ones((9, 3), np.float32)]
            results = await asyncio.gather(*(batcher.predict(block) for block in blocks))
            for block, result in zip(blocks, results):
                np.testing.assert_array_equal(result, block * 2)          # each request its own rows back
            failing = Batcher(lambda x: 1 / 0, max_batch_size=4)
            await failing.start()
            with pytest.raises(ZeroDivisionError):
                await failing.predict(blocks[0])
            await failing.stop()
        finally:
            await batcher.stop()
        return batcher.snapshot()

    stats = asyncio.run(scenario())
    assert calls == [4, 2, 9] and stats["batches"] == 3 and stats["requests"] == 7 and stats["largest_batch"] == 9


def test_playground_step_is_seed_000s_backprop(server):
    answer = httpx.post(f"{server}/v1/playground/step", json={"seed": 5, "sample": 2, "learning_rate": 0.1}).json()
    network = TrainableNeuralNetwork(seed=5)
    x, y = snn.datasets.toy.gender(dtype="float64")
    terms = network.backprop(x[2], y[2])
    assert answer["sample"]["name"] == "Charlie" and answer["parameters"] == network.parameters()
    for name, value in network.parameters().items():
        assert answer["gradients"][name] == pytest.approx(terms[f"d_L_d_{name}"], rel=1e-12)
        assert answer["updated"][name] == pytest.approx(value - 0.1 * terms[f"d_L_d_{name}"], rel=1e-12)
    assert answer["forward"]["y_pred"] == pytest.approx(terms["y_pred"])
    assert answer["partials"]["d_ypred_d_h1"] == pytest.approx(terms["d_ypred_d_h1"])


ONE = {"inputs": [0.5] * 784}
BAD_REQUESTS = [      # (what, method, path, keyword arguments of httpx.request, expected status)
    ("body over the limit", "POST", "/v1/predict",
     {"content": b"[" + b"0.5," * 400_000 + b"0]", "headers": {"Content-Type": "application/json"}}, 413),
    ("chunked body over the limit", "POST", "/v1/predict",
     {"content": iter([b"x" * 600_000, b"x" * 600_000]), "headers": {"Content-Type": "application/json"}}, 413),
    ("wrong shape", "POST", "/v1/predict", {"json": {"inputs": [[1.0, 2.0, 3.0]]}}, 422),
    ("NaN", "POST", "/v1/predict", {"content": b'{"inputs": [NaN' + b", 0" * 783 + b"]}",
                                    "headers": {"Content-Type": "application/json"}}, 422),
    ("infinity in a .npy", "POST", "/v1/predict",
     {"content": npy_bytes(np.full((1, 784), np.inf)), "headers": {"Content-Type": "application/x-npy"}}, 422),
    ("a non-image sent as PNG", "POST", "/v1/predict",
     {"content": b"these are not pixels", "headers": {"Content-Type": "image/png"}}, 422),
    ("a non-image uploaded", "POST", "/v1/predict", {"files": {"file": ("digit.png", b"not a png")}}, 422),
    ("an upload of an unknown kind", "POST", "/v1/predict", {"files": {"file": ("notes.txt", b"1,2,3")}}, 415),
    ("a form without a file", "POST", "/v1/predict",
     {"content": b'--b\r\nContent-Disposition: form-data; name="inputs"\r\n\r\n1,2\r\n--b--\r\n',
      "headers": {"Content-Type": "multipart/form-data; boundary=b"}}, 422),
    ("a broken form", "POST", "/v1/predict",
     {"content": b"--b\r\nnonsense", "headers": {"Content-Type": "multipart/form-data"}}, 400),
    ("wrong content type", "POST", "/v1/predict", {"content": b"1,2,3", "headers": {"Content-Type": "text/csv"}},
     415),
    ("no content type", "POST", "/v1/predict", {"content": b"1,2,3"}, 415),
    ("empty body", "POST", "/v1/predict", {"content": b"", "headers": {"Content-Type": "application/json"}}, 400),
    ("malformed JSON", "POST", "/v1/predict", {"content": b'{"inputs": [1,', "headers":
                                               {"Content-Type": "application/json"}}, 400),
    ("JSON without inputs", "POST", "/v1/predict", {"json": {"x": [1]}}, 422),
    ("ragged arrays", "POST", "/v1/predict", {"json": {"inputs": [[1, 2], [3]]}}, 422),
    ("strings", "POST", "/v1/predict", {"json": {"inputs": ["a"] * 784}}, 422),
    ("no samples", "POST", "/v1/predict", {"json": {"inputs": []}}, 422),
    ("a .npy of text", "POST", "/v1/predict",
     {"content": npy_bytes(np.array(["a"] * 784)), "headers": {"Content-Type": "application/x-npy"}}, 422),
    ("a truncated .npy", "POST", "/v1/predict",
     {"content": npy_bytes(np.zeros(784))[:90], "headers": {"Content-Type": "application/x-npy"}}, 422),
    ("top not a number", "POST", "/v1/predict?top=many", {"json": ONE}, 422),
    ("invert not a choice", "POST", "/v1/predict?invert=maybe", {"json": ONE}, 422),
    ("unknown explain method", "POST", "/v1/explain?method=magic", {"json": ONE}, 422),
    ("target out of range", "POST", "/v1/explain?target=10", {"json": ONE}, 422),
    ("index out of range", "POST", "/v1/explain?index=1", {"json": ONE}, 422),
    ("steps of zero", "POST", "/v1/explain?method=integrated-gradients&steps=0", {"json": ONE}, 422),
    ("unknown format", "POST", "/v1/explain?format=gif", {"json": ONE}, 422),
    ("unknown toy set", "GET", "/v1/playground/train?dataset=iris", {}, 422),
    ("too wide a network", "GET", "/v1/playground/train?width=1000", {}, 422),
    ("a learning rate of NaN", "GET", "/v1/playground/train?learning_rate=nan", {}, 422),
    ("a step of text", "POST", "/v1/playground/step", {"content": b"step", "headers":
                                                       {"Content-Type": "text/plain"}}, 415),
    ("a step sample out of range", "POST", "/v1/playground/step", {"json": {"sample": 4}}, 422),
    ("step parameters missing one", "POST", "/v1/playground/step", {"json": {"parameters": {"w1": 1.0}}}, 422),
    ("no such path", "GET", "/v2/predict", {}, 404),
    ("GET on predict", "GET", "/v1/predict", {}, 405),
]


@pytest.mark.parametrize("what, method, path, request_arguments, status", BAD_REQUESTS,
                         ids=[case[0] for case in BAD_REQUESTS])
def test_every_bad_request_is_a_4xx_with_one_line_of_json(server, what, method, path, request_arguments, status):
    answer = httpx.request(method, f"{server}{path}", timeout=30, **request_arguments)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    assert "\n" not in body["error"] and "Traceback" not in body["error"]


def test_a_content_length_that_is_not_a_number_is_a_400(server):
    """httpx will not send one; a raw socket does. (uvicorn's HTTP parser may answer before the app does.)"""
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: lots\r\nConnection: close\r\n\r\n{}")
        reply = b""
        while chunk := connection.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400") and b"Traceback" not in reply


def test_server_survives_the_bad_requests(server):
    assert httpx.post(f"{server}/v1/predict", json=ONE).status_code == 200


@pytest.mark.slow
def test_two_worker_processes_serve_a_feature_model_with_bars(tmp_path):
    """--workers 2: each process loads the model; a model of feature rows explains as a PNG of bars."""
    model = snn.Sequential([layers.Dense(4, activation="tanh"), layers.Dense(3)], input_shape=(5,), seed=1)
    path = tmp_path / "rows.snn"
    model.save(path)
    rows = np.random.default_rng(5).standard_normal((4, 5)).astype(np.float32)
    with serving(path, "--workers", "2", "--class-names", "a,b,c") as base:
        answer = httpx.post(f"{base}/v1/predict", json={"inputs": rows.tolist()}).json()
        np.testing.assert_allclose([p["probabilities"] for p in answer["predictions"]], probabilities(model, rows),
                                   atol=2e-6)
        assert {p["name"] for p in answer["predictions"]} <= {"a", "b", "c"}
        assert httpx.get(f"{base}/v1/model").json()["image"] is None
        assert httpx.post(f"{base}/v1/predict", content=b"\x89PNG", headers={"Content-Type": "image/png"}
                          ).status_code == 422                                 # not an image model
        png = httpx.post(f"{base}/v1/explain?format=png", json={"inputs": rows[0].tolist()})
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_command_line_errors_are_one_line(tmp_path, capsys):
    from scratchnn.cli import main
    assert main(["serve", str(tmp_path / "missing.snn")]) == 1
    assert capsys.readouterr().err.strip().endswith("missing.snn: no such model file")
    assert main(["serve", str(tmp_path / "x.snn"), "--port", "70000"]) == 2
    assert "port number" in capsys.readouterr().err
