"""The web page of scratchnn serve in a real browser: Playwright driving headless Chromium (Debian's package).

Draw a 7 with mouse events on the Digits board and read the top class; train in the Playground and watch
the loss fall and the boundary image change; take one step of seed 000's 2-2-1 network. Screenshots go to
the test's temporary folder. Playwright's own browser download cannot be used here: the system Chromium is
launched through ``executable_path``. In CI (CI=true) a missing Playwright or Chromium fails the test.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from conftest import require

require("starlette")
require("uvicorn")
require("httpx")
sync_api = require("playwright.sync_api")

import scratchnn as snn  # noqa: E402
from scratchnn import layers  # noqa: E402
from scratchnn.tutorial import TrainableNeuralNetwork  # noqa: E402
from test_serve import serving  # noqa: E402

pytestmark = pytest.mark.slow
SEVEN = [((70, 60), (210, 60)), ((210, 60), (120, 230))]         # the bar, then the stem, on the 280 x 280 board


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail("no chromium on PATH: .ci/run installs it with apt-get install -y chromium")
    pytest.skip("no chromium on PATH (apt-get install -y chromium); Playwright's own download is not used")


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """A small MLP trained on 4,000 of the embedded digits, saved to a .snn file."""
    (x_train, y_train), _ = snn.datasets.load_digits()
    x_train, y_train = x_train[:4000], y_train[:4000]
    model = snn.Sequential([layers.Flatten(), layers.Dense(32, activation="relu"), layers.Dense(10)],
                           input_shape=(28, 28), seed=0)
    model.compile(loss="categorical_crossentropy", optimizer=snn.optim.Adam(learning_rate=3e-3), from_logits=True)
    model.fit(x_train / np.float32(255), y_train, epochs=3, batch_size=128, verbose=0)
    path = tmp_path_factory.mktemp("browser") / "digits.snn"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def page(digits_model):
    """One browser page on a running server; console errors are collected on page.errors."""
    executable = chromium_path()
    with serving(digits_model) as base, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable,
                                             args=["--no-sandbox"] if os.geteuid() == 0 else [])
        tab = browser.new_page(viewport={"width": 1200, "height": 900})
        tab.errors = []
        tab.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else None)
        tab.on("pageerror", lambda error: tab.errors.append(str(error)))
        tab.goto(f"{base}/")
        tab.wait_for_function("scratchnn.model !== null")
        tab.base = base
        yield tab
        browser.close()


def draw(page, strokes, steps=12):
    board = page.locator("#draw").bounding_box()
    for (x0, y0), (x1, y1) in strokes:
        page.mouse.move(board["x"] + x0, board["y"] + y0)
        page.mouse.down()
        for i in range(1, steps + 1):
            page.mouse.move(board["x"] + x0 + (x1 - x0) * i / steps, board["y"] + y0 + (y1 - y0) * i / steps)
        page.mouse.up()


def test_drawing_a_seven_shows_seven_as_the_top_class_and_a_saliency_map(page, tmp_path):
    page.click("#tab-digits")
    page.click("#clear")
    draw(page, SEVEN[:1])
    page.wait_for_function("digits.result !== null && !digits.inFlight")
    updates_after_one_stroke = page.evaluate("digits.updates")
    draw(page, SEVEN[1:])
    page.wait_for_function(f"digits.updates > {updates_after_one_stroke} && !digits.inFlight && !digits.again")
    page.wait_for_timeout(200)
    page.wait_for_function("!digits.inFlight")
    assert page.inner_text("#top-class") == "7"
    probabilities = page.evaluate("digits.result.probabilities")
    assert len(probabilities) == 10 and int(np.argmax(probabilities)) == 7
    bars = page.evaluate("[...document.querySelectorAll('#bars .bar-value')].map(e => Number(e.textContent))")
    assert bars == pytest.approx(probabilities, abs=6e-4)                 # the ten bars show the ten probabilities
    assert page.locator("#bars .bar-row.top").get_attribute("data-class") == "7"
    tinted = page.evaluate("""(() => { const c = document.getElementById('overlay');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()""")
    assert tinted > 500                                                   # the saliency map lies over the drawing
    page.screenshot(path=str(tmp_path / "serve_digits.png"))
    assert page.errors == []


def test_playground_run_lowers_the_loss_and_changes_the_boundary(page, tmp_path):
    page.click("#tab-playground")
    page.select_option("#pg-dataset", "moons")
    page.fill("#pg-layers", "1")
    page.fill("#pg-width", "8")
    page.fill("#pg-lr", "0.05")
    page.fill("#pg-epochs", "120")
    page.click("#pg-train")
    page.wait_for_function("playground.frames >= 1")
    first = page.evaluate("document.getElementById('pg-boundary').toDataURL()")
    page.wait_for_function("playground.done", timeout=60_000)
    last = page.evaluate("document.getElementById('pg-boundary').toDataURL()")
    losses = [loss for _, loss in page.evaluate("playground.losses")]
    assert page.evaluate("playground.reason") == "finished"
    assert losses[-1] < 0.6 * losses[0]
    assert first != last
    assert page.inner_text("#pg-epoch") == "120"
    page.screenshot(path=str(tmp_path / "serve_playground.png"), full_page=True)
    assert page.errors == []


def test_one_step_of_the_2_2_1_network_matches_the_seed_derivation(page):
    page.click("#tab-playground")
    page.fill("#net-lr", "0.1")
    page.click("#net-step")
    page.wait_for_function("network.steps === 1")
    network = TrainableNeuralNetwork(seed=0)
    x, y = snn.datasets.toy.gender(dtype="float64")
    terms = network.backprop(x[0], y[0])                                   # Alice, the first person
    expected = {name: value - 0.1 * terms[f"d_L_d_{name}"] for name, value in network.parameters().items()}
    assert page.evaluate("network.parameters") == pytest.approx(expected, rel=1e-12)
    assert page.locator("#net-table tr[data-parameter]").count() == 9
    assert "Alice" in page.inner_text("#net-summary")
    assert page.errors == []


def test_the_api_page_lists_the_endpoints(page):
    page.goto(f"{page.base}/docs")
    page.wait_for_selector(".endpoint")
    text = page.inner_text("#endpoints")
    assert "POST /v1/predict" in text and "GET /v1/model" in text and "POST /v1/explain" in text
