// Shared by the example pages: the backend selector and the line that says which backend runs and why
// the others were skipped (runner.fallbackReasons). The choice travels as ?backend=NAME (auto: the first
// of webgpu, webgl, wasm that works here).
export const BACKENDS = ["webgpu", "webgl", "wasm"];

/** The backendOrder for load(): the one chosen with ?backend=, else every backend in order. */
export function backendOrder(params = new URLSearchParams(location.search)) {
  const chosen = params.get("backend");
  return chosen && chosen !== "auto" ? [chosen] : BACKENDS;
}

/** Fills the element with id "backend-bar" with a selector; changing it reloads the page on that backend. */
export function backendSelector(params = new URLSearchParams(location.search)) {
  const bar = document.getElementById("backend-bar");
  const label = document.createElement("label");
  label.textContent = "Backend ";
  const select = document.createElement("select");
  select.id = "backend";
  for (const name of ["auto", ...BACKENDS]) select.add(new Option(name, name));
  select.value = params.get("backend") ?? "auto";
  select.addEventListener("change", () => {
    const next = new URLSearchParams(location.search);
    if (select.value === "auto") next.delete("backend");
    else next.set("backend", select.value);
    location.search = next.toString();
  });
  label.append(select);
  const info = document.createElement("span");
  info.id = "backend-info";
  info.textContent = "loading the model…";
  bar.replaceChildren(label, info);
}

/** Shows which backend each runner uses and why earlier ones were skipped. */
export function showBackend(runners) {
  const info = document.getElementById("backend-info");
  const used = [...new Set(Object.values(runners).map((r) => r.backendName))];
  const skipped = new Map();
  for (const r of Object.values(runners)) {
    for (const { backend, reason } of r.fallbackReasons) {
      if (!skipped.has(backend)) skipped.set(backend, reason);
    }
  }
  info.replaceChildren();
  const strong = document.createElement("b");
  strong.textContent = used.join(" + ");
  info.append("running on ", strong);
  if (skipped.size) {
    const list = document.createElement("span");
    list.className = "skipped";
    list.textContent = " — skipped " + [...skipped].map(([b, why]) => `${b} (${why})`).join("; ");
    info.append(list);
  }
}

/** Shows what is wrong with the visitor's input in #status (the page keeps working). */
export function inputError(error) {
  const status = document.getElementById("status");
  status.textContent = error.message;
  status.className = "error";
  document.body.dataset.done = "input-error";
}

/** Clears #status after a run that went well. */
export function clearStatus() {
  const status = document.getElementById("status");
  status.textContent = "";
  status.className = "";
}

/** Shows an error in #status and marks the page as failed (the tests wait for body[data-done]). */
export function fail(error) {
  const status = document.getElementById("status");
  status.textContent = `Error: ${error.message}`;
  status.className = "error";
  document.body.dataset.done = "false";
  console.error(error);
}
