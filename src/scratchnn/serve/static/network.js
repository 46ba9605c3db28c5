// Seed 000's 2-2-1 network, one person at a time: POST /v1/playground/step returns every forward value,
// every partial derivative of the chain rule, dL/dw for the nine parameters, and the weights after the step.
"use strict";

const network = (() => {
  const NAMES = ["w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2", "b3"];
  const CHAINS = {                     // dL/dparam as the seed writes it: a product of partial derivatives
    w1: ["d_L_d_ypred", "d_ypred_d_h1", "d_h1_d_w1"], w2: ["d_L_d_ypred", "d_ypred_d_h1", "d_h1_d_w2"],
    b1: ["d_L_d_ypred", "d_ypred_d_h1", "d_h1_d_b1"], w3: ["d_L_d_ypred", "d_ypred_d_h2", "d_h2_d_w3"],
    w4: ["d_L_d_ypred", "d_ypred_d_h2", "d_h2_d_w4"], b2: ["d_L_d_ypred", "d_ypred_d_h2", "d_h2_d_b2"],
    w5: ["d_L_d_ypred", "d_ypred_d_w5"], w6: ["d_L_d_ypred", "d_ypred_d_w6"], b3: ["d_L_d_ypred", "d_ypred_d_b3"],
  };
  const state = {parameters: null, seed: 0, next: 0, steps: 0, losses: [], result: null};
  const $ = (id) => document.getElementById(id);
  const f = (value) => scratchnn.format(value, 4);
  const partial = (name) => name.replace(/^d_(\w+?)_d_(\w+)$/, "∂$1/∂$2").replace("ypred", "o1");

  function drawNetwork(result) {
    const p = result.parameters, v = result.forward, x = result.sample.x;
    const nodes = {x1: [60, 90], x2: [60, 220], h1: [290, 90], h2: [290, 220], o1: [510, 155]};
    // [from, to, weight, where along the edge its label goes, how far above the edge]
    const edges = [["x1", "h1", "w1", 0.5, -8], ["x2", "h1", "w2", 0.3, 22], ["x1", "h2", "w3", 0.3, -8],
                   ["x2", "h2", "w4", 0.5, 18], ["h1", "o1", "w5", 0.45, -10], ["h2", "o1", "w6", 0.35, 22]];
    const parts = [];
    for (const [from, to, name, share, lift] of edges) {
      const [ax, ay] = nodes[from], [bx, by] = nodes[to];
      const width = Math.min(6, 0.8 + Math.abs(p[name]) * 1.5), colour = p[name] >= 0 ? "#d6452f" : "#2f6fd6";
      parts.push(`<line x1="${ax}" y1="${ay}" x2="${bx}" y2="${by}" stroke="${colour}" stroke-width="${width}" ` +
                 `opacity="0.55"/><text x="${ax + (bx - ax) * share}" y="${ay + (by - ay) * share + lift}" ` +
                 `text-anchor="middle">${name}=${f(p[name])}</text>`);
    }
    // each node's value, and for the neurons the sum before the sigmoid and the bias, above or below it
    const texts = {x1: [`x1=${f(x[0])}`], x2: [`x2=${f(x[1])}`],
                   h1: [`h1=${f(v.h1)}`, `sum=${f(v.sum_h1)}, b1=${f(p.b1)}`],
                   h2: [`h2=${f(v.h2)}`, `sum=${f(v.sum_h2)}, b2=${f(p.b2)}`],
                   o1: [`o1=${f(v.y_pred)}`, `sum=${f(v.sum_o1)}, b3=${f(p.b3)}`]};
    for (const [name, [cx, cy]] of Object.entries(nodes)) {
      const below = cy > 150 || name === "o1";
      parts.push(`<circle cx="${cx}" cy="${cy}" r="22" fill="#fff" stroke="#1d2330"/>` +
                 `<text x="${cx}" y="${cy + 4}" text-anchor="middle">${name}</text>`);
      texts[name].forEach((text, line) => {
        const y = below ? cy + 40 + 15 * line : cy - 32 - 15 * (texts[name].length - 1 - line);
        parts.push(`<text x="${cx}" y="${y}" text-anchor="middle"${line ? ' fill="#6b7280"' : ""}>${text}</text>`);
      });
    }
    $("net-svg").innerHTML = parts.join("");
  }

  function drawTable(result) {
    const rows = ["<tr><th>forward</th><th>value</th><th colspan=2></th></tr>"];
    for (const [name, value] of Object.entries(result.forward)) {
      rows.push(`<tr><td>${name.replace("y_pred", "o1 (y_pred)")}</td><td class="num">${f(value)}</td>` +
                "<td colspan=2></td></tr>");
    }
    rows.push(`<tr><td>L = (y − o1)²</td><td class="num">${f(result.loss)}</td><td colspan=2>y = ` +
              `${result.sample.y}</td></tr>`);
    rows.push("<tr><th>parameter</th><th>dL/dparam</th><th>chain rule</th><th>after the step</th></tr>");
    for (const name of NAMES) {
      const factors = CHAINS[name].map((term) => `${partial(term)} ${f(result.partials[term])}`).join(" × ");
      rows.push(`<tr data-parameter="${name}"><td>${name} = ${f(result.parameters[name])}</td>` +
                `<td class="num">${f(result.gradients[name])}</td><td>${factors}</td>` +
                `<td class="num">${f(result.updated[name])}</td></tr>`);
    }
    $("net-table").querySelector("tbody").innerHTML = rows.join("");
  }

  async function show(rate, advance) {
    const sample = state.next;
    const result = await scratchnn.postJSON("/v1/playground/step",
      {parameters: state.parameters, seed: state.seed, sample, learning_rate: rate});
    state.result = result;
    state.parameters = result.updated;
    if (advance) {
      state.next = (sample + 1) % 4;
      state.steps += 1;
      state.losses.push(result.loss_all);
    }
    drawNetwork(result);
    drawTable(result);
    const taken = advance ? `step ${state.steps}: ${result.sample.name}` : `${result.sample.name} (no step taken yet)`;
    $("net-summary").textContent = `${taken}, x = (${result.sample.x.join(", ")}), y = ${result.sample.y}; ` +
      `mean loss over the four after it: ${f(result.loss_all)}`;
  }

  $("net-step").addEventListener("click", () => show(Number($("net-lr").value), true));
  $("net-reset").addEventListener("click", () => {
    Object.assign(state, {parameters: null, seed: state.seed + 1, next: 0, steps: 0, losses: []});
    show(0, false);
  });
  show(0, false);
  return state;
})();
