// The demo page: writes to the picked region's API, follows every region's live
// counts over Server-Sent Events, and polls the dev server for every region's
// partition switch, links, replication lag and live readers. Every request goes
// through the dev server, which proxies /api/<region>/... to that region's peer.
const params = new URLSearchParams(location.search);
const user = localStorage.getItem("countermesh-user") || ("reader-" + Math.random().toString(36).slice(2, 8));
localStorage.setItem("countermesh-user", user);
let item = "";
let current = "";
let reaction = "";
let token = "";
const switching = new Set(); // regions whose switch the user just flipped, until the server says so

const $ = (id) => document.getElementById(id);
const itemPath = () => `/v1/items/${encodeURIComponent(item)}`;

async function api(region, method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers["X-Causal-Token"] = token;
  const res = await fetch(`/api/${region}${path}`, { method, headers, body: body && JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.detail || res.statusText);
  if (data.token) token = data.token;
  return data;
}

function showError(err) { $("error").textContent = err ? String(err.message || err) : ""; }

// set writes a count into el and, when it changed from a shown count and flash
// is set, highlights el briefly: a change that came from elsewhere.
function set(el, value, flash) {
  const text = String(value || 0);
  if (el.textContent === text) return;
  const shown = el.textContent !== "–" && el.textContent !== "";
  el.textContent = text;
  if (flash && shown) {
    el.classList.remove("arrived");
    void el.offsetWidth; // restart the animation
    el.classList.add("arrived");
    el.addEventListener("animationend", () => el.classList.remove("arrived"), { once: true });
  }
}

// render shows a region's item; remote is set for states from the live stream,
// whose changes were made by someone else (this page's own write shows its
// answer first, so its event changes nothing).
function render(region, it, remote) {
  const row = document.querySelector(`#live tr[data-region="${region}"]`);
  if (row) {
    set(row.querySelector(".claps"), it.counters.claps, remote);
    set(row.querySelector(".likes"), it.reactions.like, remote);
    set(row.querySelector(".dislikes"), it.reactions.dislike, remote);
    row.dataset.state = JSON.stringify([it.counters, it.reactions]);
  }
  if (region === current) {
    set($("claps"), it.counters.claps, remote);
    set($("likes"), it.reactions.like, remote);
    set($("dislikes"), it.reactions.dislike, remote);
  }
  const states = new Set([...document.querySelectorAll("#live tbody tr")].map((r) => r.dataset.state));
  $("converged").textContent = states.size === 1 ? "All regions agree." : "Regions differ — converging…";
}

function follow(region) {
  const es = new EventSource(`/api/${region}${itemPath()}/events`);
  es.addEventListener("item", (e) => render(region, JSON.parse(e.data), true));
  es.onmessage = (e) => render(region, JSON.parse(e.data), true);
}

function showReaction() {
  $("like").setAttribute("aria-pressed", String(reaction === "like"));
  $("dislike").setAttribute("aria-pressed", String(reaction === "dislike"));
}

// loadReaction reads this user's own reaction from the picked region.
async function loadReaction() {
  const it = await api(current, "GET", `${itemPath()}?user=${encodeURIComponent(user)}`);
  reaction = (it.user && it.user.reaction) || "";
  showReaction();
  render(current, it, false);
}

async function pick(region) {
  current = region;
  $("current").textContent = region;
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.region === region));
  const row = document.querySelector(`#live tr[data-region="${region}"]`);
  if (row && row.dataset.state) { const [c, r] = JSON.parse(row.dataset.state); render(region, { counters: c, reactions: r }, false); }
  await loadReaction();
}

async function setReaction(kind) {
  showError();
  try {
    const next = reaction === kind ? "" : kind;
    const path = `${itemPath()}/reactions/${encodeURIComponent(user)}`;
    const it = next ? await api(current, "PUT", path, { reaction: next }) : await api(current, "DELETE", path);
    reaction = next;
    showReaction();
    if (it.counters) render(current, it, false);
  } catch (err) { showError(err); }
}

async function partition(region, cut) {
  switching.add(region);
  try {
    const res = await fetch("/dev/partition", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ region, cut }) });
    if (!res.ok) throw new Error(await res.text());
    document.querySelector(`#live tr[data-region="${region}"]`).classList.toggle("cut", cut);
  } finally {
    switching.delete(region);
  }
}

function lagText(r) {
  if (r.lag_changes === 0) return "0 s";
  return `${r.lag_seconds < 10 ? r.lag_seconds.toFixed(1) : Math.round(r.lag_seconds)} s`;
}

// showMesh shows every region's switch, links, lag and readers as the server
// reports them.
function showMesh(regions) {
  for (const r of regions) {
    const row = document.querySelector(`#live tr[data-region="${r.name}"]`);
    if (!row) continue;
    if (!switching.has(r.name)) {
      row.querySelector("input").checked = r.cut;
      row.classList.toggle("cut", r.cut);
    }
    const up = r.links.filter((l) => l.up).length;
    const link = row.querySelector(".link");
    link.textContent = up === r.links.length ? "up" : up === 0 ? "down" : `${up}/${r.links.length} up`;
    link.dataset.state = up === r.links.length ? "up" : up === 0 ? "down" : "partial";
    link.title = r.links.map((l) => `${l.region}: ${l.up ? "linked" : "not linked"}`).join("\n");
    const lag = row.querySelector(".lag");
    lag.textContent = lagText(r);
    lag.title = `${r.lag_changes} change(s) of ${r.name} not yet acknowledged by every other region`;
    row.querySelector(".readers").textContent = r.readers < 0 ? "?" : r.readers;
  }
}

async function pollMesh() {
  try {
    const res = await fetch("/dev/regions", { cache: "no-store" });
    if (res.ok) showMesh((await res.json()).regions);
  } catch (err) { /* the dev server stopped; keep the last state */ }
  setTimeout(pollMesh, 1000);
}

async function main() {
  const mesh = await (await fetch("/dev/regions", { cache: "no-store" })).json();
  item = mesh.item;
  document.querySelectorAll(".item").forEach((el) => { el.textContent = item; });
  const nav = $("regions");
  const body = document.querySelector("#live tbody");
  for (const r of mesh.regions) {
    const b = document.createElement("button");
    b.textContent = r.name; b.dataset.region = r.name; b.id = `pick-${r.name}`;
    b.onclick = () => pick(r.name).catch(showError);
    nav.appendChild(b);
    const tr = document.createElement("tr");
    tr.dataset.region = r.name; tr.id = `region-${r.name}`;
    tr.innerHTML = `<th scope="row">${r.name}</th><td class="claps" data-label="claps">–</td>` +
      `<td class="likes" data-label="likes">–</td><td class="dislikes" data-label="dislikes">–</td>` +
      `<td class="link" data-label="link">–</td><td class="lag" data-label="lag">–</td>` +
      `<td class="readers" data-label="readers">–</td>` +
      `<td class="switch"><label><input type="checkbox" id="partition-${r.name}"> cut off</label></td>`;
    body.appendChild(tr);
    tr.querySelector("input").onchange = (e) => partition(r.name, e.target.checked).catch(showError);
  }
  showMesh(mesh.regions);
  for (const r of mesh.regions) follow(r.name);
  $("user").textContent = user;
  $("clap").onclick = async () => {
    showError();
    try { render(current, await api(current, "POST", `${itemPath()}/counters/claps`, { by: 1 }), false); } catch (err) { showError(err); }
  };
  $("like").onclick = () => setReaction("like");
  $("dislike").onclick = () => setReaction("dislike");
  setTimeout(pollMesh, 1000);
  await pick(params.get("region") || mesh.regions[0].name);
  document.body.dataset.ready = "true";
}

main().catch(showError);
