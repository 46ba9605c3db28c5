// Digits: draw on a canvas; the drawing is centred as MNIST centres its digits (the ink's bounding box
// scaled into a 20 x 20 box, then moved so its centre of mass sits at the middle of the 28 x 28 frame),
// sent to POST /v1/explain, and the ten probabilities and the saliency map drawn as they come back.
"use strict";

const digits = (() => {
  const board = document.getElementById("draw");
  const overlay = document.getElementById("overlay");
  const preview = document.getElementById("model-input");
  const pen = board.getContext("2d", {willReadFrequently: true});
  const state = {pixelScale: 1, drawing: false, last: null, inFlight: false, again: false, side: 28, usable: true,
                 transform: null, input: null, result: null, updates: 0};

  function clearBoard() {
    pen.fillStyle = "#000";
    pen.fillRect(0, 0, board.width, board.height);
    overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
    preview.getContext("2d").clearRect(0, 0, preview.width, preview.height);
    state.result = null;
    state.input = null;
    showProbabilities(null);
  }

  function point(event) {
    const box = board.getBoundingClientRect();
    return [(event.clientX - box.left) * board.width / box.width, (event.clientY - box.top) * board.height / box.height];
  }

  function stroke(from, to) {
    pen.strokeStyle = "#fff";
    pen.lineWidth = 20;
    pen.lineCap = "round";
    pen.lineJoin = "round";
    pen.beginPath();
    pen.moveTo(from[0], from[1]);
    pen.lineTo(to[0], to[1]);
    pen.stroke();
  }

  // The model's input: side x side values in [0, 1], white ink on black, MNIST's centring.
  function modelInput() {
    const width = board.width, height = board.height, side = state.side;
    const inner = Math.round(side * 20 / 28);
    const pixels = pen.getImageData(0, 0, width, height).data;
    const ink = new Float32Array(width * height);
    let left = width, right = -1, top = height, bottom = -1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const value = pixels[4 * (y * width + x)] / 255;
        ink[y * width + x] = value;
        if (value > 0.1) {
          left = Math.min(left, x); right = Math.max(right, x); top = Math.min(top, y); bottom = Math.max(bottom, y);
        }
      }
    }
    if (right < 0) return null;
    const box = Math.max(right - left + 1, bottom - top + 1);           // a square around the ink
    const x0 = (left + right + 1 - box) / 2, y0 = (top + bottom + 1 - box) / 2;
    const cell = box / inner;                                           // board pixels per input pixel
    const small = new Float32Array(inner * inner);
    for (let y = Math.max(0, Math.floor(y0)); y < Math.min(height, y0 + box); y++) {
      for (let x = Math.max(0, Math.floor(x0)); x < Math.min(width, x0 + box); x++) {
        const u = Math.min(inner - 1, Math.floor((x - x0) / cell)), v = Math.min(inner - 1, Math.floor((y - y0) / cell));
        small[v * inner + u] += ink[y * width + x] / (cell * cell);    // the mean over the cell: an area average
      }
    }
    let mass = 0, mx = 0, my = 0;
    for (let v = 0; v < inner; v++) {
      for (let u = 0; u < inner; u++) { const m = small[v * inner + u]; mass += m; mx += m * u; my += m * v; }
    }
    const margin = (side - inner) / 2;
    const shift = (centre) => Math.max(-margin, Math.min(margin, Math.round((side - 1) / 2 - (centre + margin))));
    const dx = shift(mx / mass), dy = shift(my / mass);
    const input = new Float32Array(side * side);
    for (let v = 0; v < inner; v++) {
      for (let u = 0; u < inner; u++) {
        input[(v + margin + dy) * side + (u + margin + dx)] = Math.min(1, small[v * inner + u]);
      }
    }
    // input pixel (u, v) covers the board square from (x0 + (u - margin - dx) * cell, ...) of side cell
    state.transform = {x: x0 - (margin + dx) * cell, y: y0 - (margin + dy) * cell, cell};
    return input;
  }

  function drawPreview(input, attributions) {
    const side = state.side, context = preview.getContext("2d"), image = context.createImageData(side, side);
    const strengths = normalised(attributions);
    for (let i = 0; i < side * side; i++) {
      const grey = 255 * input[i], heat = strengths ? strengths[i] : 0;
      image.data.set([grey * (1 - heat) + 230 * heat, grey * (1 - heat) + 40 * heat, grey * (1 - heat) + 30 * heat,
                      255], 4 * i);
    }
    const small = document.createElement("canvas");
    small.width = small.height = side;
    small.getContext("2d").putImageData(image, 0, 0);
    context.imageSmoothingEnabled = false;
    context.clearRect(0, 0, preview.width, preview.height);
    context.drawImage(small, 0, 0, preview.width, preview.height);
  }

  function normalised(attributions) {
    if (!attributions) return null;
    // |attribution| per pixel over the 99th percentile; the weakest third (a network's gradient is
    // seldom exactly zero, even over the black ground) is left out so the picture shows what matters
    const side = state.side, channels = attributions.length / (side * side), values = new Float32Array(side * side);
    for (let i = 0; i < side * side; i++) {
      for (let c = 0; c < channels; c++) values[i] += Math.abs(attributions[i * channels + c]);
    }
    const sorted = Float32Array.from(values).sort();
    const high = Math.max(sorted[Math.floor(0.99 * (sorted.length - 1))], 1e-12);
    return values.map((value) => Math.min(1, Math.max(0, (value / high - 0.35) / 0.65)));
  }

  function drawSaliency(attributions) {
    const context = overlay.getContext("2d");
    context.clearRect(0, 0, overlay.width, overlay.height);
    const strengths = normalised(attributions);
    if (!strengths || !document.getElementById("show-saliency").checked || !state.transform) return;
    const side = state.side, heat = document.createElement("canvas");
    heat.width = heat.height = side;
    const image = heat.getContext("2d").createImageData(side, side);
    for (let i = 0; i < side * side; i++) image.data.set([255, 40, 20, Math.round(200 * strengths[i])], 4 * i);
    heat.getContext("2d").putImageData(image, 0, 0);
    const {x, y, cell} = state.transform;
    context.imageSmoothingEnabled = true;
    context.drawImage(heat, x, y, side * cell, side * cell);            // back over the drawing it came from
  }

  function showProbabilities(probabilities) {
    const bars = document.getElementById("bars");
    const classes = scratchnn.model ? scratchnn.model.class_names : [...Array(10).keys()].map(String);
    if (bars.children.length !== classes.length) {
      bars.innerHTML = classes.map((name, i) =>
        `<div class="bar-row" data-class="${i}"><span>${name}</span><div class="bar-track">` +
        `<div class="bar-fill"></div></div><span class="bar-value">–</span></div>`).join("");
    }
    const best = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
    [...bars.children].forEach((row, i) => {
      const p = probabilities ? probabilities[i] : 0;
      row.querySelector(".bar-fill").style.width = `${(100 * p).toFixed(1)}%`;
      row.querySelector(".bar-value").textContent = probabilities ? p.toFixed(3) : "–";
      row.classList.toggle("top", i === best);
    });
    document.getElementById("top-class").textContent = best >= 0 ? classes[best] : "–";
    document.getElementById("top-probability").textContent = best >= 0 ? probabilities[best].toFixed(3) : "–";
  }

  // One request at a time; strokes made meanwhile are sent when it returns (live, without a queue).
  async function update() {
    if (!state.usable) return;
    if (state.inFlight) { state.again = true; return; }
    const input = modelInput();
    if (!input) return;
    state.inFlight = true;
    state.input = input;
    drawPreview(input, null);
    const method = document.getElementById("explain-method").value;
    try {
      const result = await scratchnn.postJSON(`/v1/explain?method=${method}&format=json&steps=16`,
                                              {inputs: Array.from(input, (v) => v * state.pixelScale)});
      state.result = result;
      state.updates += 1;
      showProbabilities(result.probabilities);
      drawPreview(input, result.attributions);
      drawSaliency(result.attributions);
    } catch (error) {
      document.getElementById("digits-note").hidden = false;
      document.getElementById("digits-note").textContent = `the server said: ${error.message}`;
    } finally {
      state.inFlight = false;
      if (state.again) { state.again = false; update(); }
    }
  }

  board.addEventListener("pointerdown", (event) => {
    board.setPointerCapture(event.pointerId);
    state.drawing = true;
    state.last = point(event);
    stroke(state.last, state.last);
    update();
  });
  board.addEventListener("pointermove", (event) => {
    if (!state.drawing) return;
    const next = point(event);
    stroke(state.last, next);
    state.last = next;
    update();
  });
  for (const name of ["pointerup", "pointercancel"]) {
    board.addEventListener(name, () => { if (state.drawing) { state.drawing = false; update(); } });
  }
  document.getElementById("clear").addEventListener("click", clearBoard);
  document.getElementById("show-saliency").addEventListener("change", () => drawSaliency(state.result?.attributions));
  document.getElementById("explain-method").addEventListener("change", update);

  clearBoard();
  scratchnn.modelReady.then((model) => {
    const image = model.image;
    if (!image || image[0] !== image[1] || image[2] !== 1) {
      state.usable = false;
      const note = document.getElementById("digits-note");
      note.hidden = false;
      note.textContent = `This model takes input of shape (${model.input_shape.join(", ")}), not a square ` +
        "grayscale image, so the Digits board cannot feed it; serve an MNIST-like model (e.g. from " +
        "`scratchnn train --data digits`) to draw, or use the Playground.";
      return;
    }
    state.side = image[0];
    state.pixelScale = model.pixels === "0..255" ? 255 : 1;     // the model's Rescaling takes pixels 0..255
    showProbabilities(null);
  });
  return state;
})();
