// Playground: GET /v1/playground/train streams server-sent events while the server trains: "setup" (the
// points), a "frame" every few epochs (loss, accuracy, the class and its probability over a grid), "done".
"use strict";

const playground = (() => {
  const COLOURS = [[47, 111, 214], [214, 69, 47], [46, 160, 90], [150, 80, 190]];
  const boundary = document.getElementById("pg-boundary");
  const curve = document.getElementById("pg-loss-curve");
  const state = {source: null, setup: null, losses: [], frames: 0, done: false, running: false, reason: ""};
  const $ = (id) => document.getElementById(id);

  function query() {
    const names = ["dataset", "layers", "width", "activation", "optimizer", "learning_rate", "epochs"];
    const form = $("pg-form"), parameters = new URLSearchParams();
    for (const name of names) parameters.set(name, form.elements[name].value);
    return parameters.toString();
  }

  function start() {
    stop("restarted");
    Object.assign(state, {setup: null, losses: [], frames: 0, done: false, running: true, reason: ""});
    $("pg-train").disabled = true;
    $("pg-stop").disabled = false;
    $("pg-status").textContent = "starting…";
    const source = new EventSource(`/v1/playground/train?${query()}`);
    state.source = source;
    source.addEventListener("setup", (message) => {
      state.setup = JSON.parse(message.data);
      $("pg-network").textContent = `network ${state.setup.network.join("-")}, ` +
        `${state.setup.parameters} parameters, ${state.setup.points.length} points`;
    });
    source.addEventListener("frame", (message) => {
      const frame = JSON.parse(message.data);
      state.frames += 1;
      state.losses.push([frame.epoch, frame.loss]);
      $("pg-epoch").textContent = frame.epoch;
      $("pg-loss").textContent = frame.loss.toFixed(4);
      $("pg-accuracy").textContent = frame.accuracy.toFixed(3);
      $("pg-status").textContent = "training…";
      drawBoundary(frame);
      drawCurve();
    });
    source.addEventListener("done", (message) => {
      const done = JSON.parse(message.data);
      state.done = true;
      stop(done.reason);
    });
    source.onerror = () => {
      if (!state.done) stop(state.frames ? "the connection closed" : "the server refused the run (see its log)");
    };
  }

  function stop(reason) {
    if (state.source) state.source.close();
    state.source = null;
    if (state.running) {
      state.running = false;
      state.reason = reason;
      $("pg-status").textContent = reason;
    }
    $("pg-train").disabled = false;
    $("pg-stop").disabled = true;
  }

  function drawBoundary(frame) {
    const setup = state.setup, context = boundary.getContext("2d"), side = frame.grid;
    const cells = document.createElement("canvas");
    cells.width = cells.height = side;
    const image = cells.getContext("2d").createImageData(side, side);
    const floor = 1 / setup.classes;                        // the probability of a blind guess: white
    for (let i = 0; i < side * side; i++) {
      const colour = COLOURS[frame.classes[i] % COLOURS.length];
      const strength = Math.max(0, (frame.confidence[i] - floor) / (1 - floor)) * 0.65;
      image.data.set([0, 1, 2].map((c) => 255 - strength * (255 - colour[c])).concat(255), 4 * i);
    }
    cells.getContext("2d").putImageData(image, 0, 0);
    context.imageSmoothingEnabled = true;
    context.drawImage(cells, 0, 0, boundary.width, boundary.height);
    const [x0, x1, y0, y1] = setup.extent;
    for (const [x, y, label] of setup.points) {
      const px = (x - x0) / (x1 - x0) * boundary.width, py = (y1 - y) / (y1 - y0) * boundary.height;
      context.beginPath();
      context.arc(px, py, setup.points.length > 10 ? 3.5 : 7, 0, 2 * Math.PI);
      context.fillStyle = `rgb(${COLOURS[label % COLOURS.length].join(",")})`;
      context.fill();
      context.strokeStyle = "#fff";
      context.stroke();
    }
  }

  function drawCurve() {
    const context = curve.getContext("2d"), width = curve.width, height = curve.height, pad = 30;
    context.clearRect(0, 0, width, height);
    const epochs = state.setup ? state.setup.epochs : 1;
    const top = Math.max(...state.losses.map(([, loss]) => loss), 1e-9);
    context.strokeStyle = "#9aa3b2";
    context.strokeRect(pad, 6, width - pad - 6, height - pad - 6);
    context.fillStyle = "#6b7280";
    context.font = "11px system-ui";
    context.fillText(top.toFixed(3), 2, 14);
    context.fillText("0", pad - 10, height - pad);
    context.fillText(`epoch ${epochs}`, width - 62, height - 10);
    context.beginPath();
    state.losses.forEach(([epoch, loss], i) => {
      const x = pad + (width - pad - 6) * epoch / epochs, y = 6 + (height - pad - 6) * (1 - loss / top);
      if (i === 0) context.moveTo(x, y); else context.lineTo(x, y);
    });
    context.strokeStyle = "#d6452f";
    context.lineWidth = 2;
    context.stroke();
    context.lineWidth = 1;
  }

  $("pg-train").addEventListener("click", start);
  $("pg-stop").addEventListener("click", () => stop("stopped"));
  return state;
})();
