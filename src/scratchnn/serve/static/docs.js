// The API page: every path of /openapi.json with its parameters, bodies and answers.
"use strict";

const escape = (text) => String(text ?? "").replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                                        '"': "&quot;"})[c]);

function schemaText(schema) {
  if (!schema) return "";
  if (schema.enum) return schema.enum.join(" | ");
  const range = [schema.minimum !== undefined ? `≥ ${schema.minimum}` : "",
                 schema.maximum !== undefined ? `≤ ${schema.maximum}` : ""].filter(Boolean).join(", ");
  return [schema.type || (schema.$ref || "").split("/").pop(), range].filter(Boolean).join(" ");
}

function renderOperation(path, method, operation) {
  const parameters = (operation.parameters || []).map((p) =>
    `<tr><td><code>${escape(p.name)}</code></td><td>${escape(schemaText(p.schema))}</td>` +
    `<td>${escape(p.schema && p.schema.default !== undefined ? p.schema.default : "")}</td>` +
    `<td>${escape(p.description)}</td></tr>`).join("");
  const body = operation.requestBody ? `<p><b>body</b>: ${Object.keys(operation.requestBody.content).map(
    (type) => `<code>${escape(type)}</code>`).join(", ")}. ${escape(operation.requestBody.description)}</p>` : "";
  const answers = Object.entries(operation.responses).map(([status, answer]) =>
    `<code>${status}</code> ${escape(answer.description)}` +
    (answer.content ? ` (${Object.keys(answer.content).join(", ")})` : "")).join("<br>");
  return `<section class="endpoint" id="${method}-${escape(path)}"><h2><code>${method.toUpperCase()} ` +
    `${escape(path)}</code></h2><p>${escape(operation.summary)}</p>` +
    (parameters ? `<table><tr><th>query</th><th>type</th><th>default</th><th></th></tr>${parameters}</table>` : "") +
    `${body}<p>${answers}</p></section>`;
}

fetch("/openapi.json").then((response) => response.json()).then((schema) => {
  document.title = `${schema.info.title} ${schema.info.version}: API`;
  const sections = [];
  for (const [path, operations] of Object.entries(schema.paths)) {
    for (const [method, operation] of Object.entries(operations)) sections.push(renderOperation(path, method, operation));
  }
  document.getElementById("endpoints").innerHTML = `<p>${escape(schema.info.description)}</p>` + sections.join("");
});
