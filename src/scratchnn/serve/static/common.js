// What both tabs share: switching tabs, JSON requests, and the served model's description.
"use strict";

const scratchnn = {
  model: null,                       // GET /v1/model, once loaded
  modelReady: null,                  // a Promise of it

  async postJSON(url, body) {
    const response = await fetch(url, {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    return answer;
  },

  format(value, digits = 4) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    const size = Math.abs(value);
    return size !== 0 && (size < 1e-3 || size >= 1e4) ? value.toExponential(2) : value.toFixed(digits);
  },
};

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) other.classList.toggle("active", other === tab);
    for (const panel of document.querySelectorAll(".panel")) {
      panel.classList.toggle("active", panel.id === tab.dataset.tab);
    }
  });
}

scratchnn.modelReady = fetch("/v1/model").then((response) => response.json()).then((model) => {
  scratchnn.model = model;
  const shape = model.input_shape.join(" × ");
  document.getElementById("model-info").textContent =
    `serving ${model.file || model.name}: input ${shape}, ${model.classes} classes, ` +
    `${model.parameters.toLocaleString()} parameters (scratchnn ${model.version})`;
  return model;
});
