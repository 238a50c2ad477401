// The demo page: writes to the picked region's API, and follows every region's
// live counts over Server-Sent Events. Every request goes through the dev server,
// which proxies /api/<region>/... to that region's peer.
const item = "article:hello";
const params = new URLSearchParams(location.search);
const user = localStorage.getItem("countermesh-user") || ("reader-" + Math.random().toString(36).slice(2, 8));
localStorage.setItem("countermesh-user", user);
let regions = [];
let current = "";
let reaction = "";
let token = "";

const $ = (id) => document.getElementById(id);

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

function render(region, it) {
  const row = document.querySelector(`#live tr[data-region="${region}"]`);
  if (row) {
    row.querySelector(".claps").textContent = it.counters.claps || 0;
    row.querySelector(".likes").textContent = it.reactions.like || 0;
    row.querySelector(".dislikes").textContent = it.reactions.dislike || 0;
    row.dataset.state = JSON.stringify([it.counters, it.reactions]);
  }
  if (region === current) {
    $("claps").textContent = it.counters.claps || 0;
    $("likes").textContent = it.reactions.like || 0;
    $("dislikes").textContent = it.reactions.dislike || 0;
  }
  const states = new Set([...document.querySelectorAll("#live tbody tr")].map((r) => r.dataset.state));
  $("converged").textContent = states.size === 1 ? "All regions agree." : "Regions differ — converging…";
}

function follow(region) {
  const es = new EventSource(`/api/${region}/v1/items/${encodeURIComponent(item)}/events`);
  es.addEventListener("item", (e) => render(region, JSON.parse(e.data)));
  es.onmessage = (e) => render(region, JSON.parse(e.data));
}

function pick(region) {
  current = region;
  $("current").textContent = region;
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.region === region));
  const row = document.querySelector(`#live tr[data-region="${region}"]`);
  if (row && row.dataset.state) { const [c, r] = JSON.parse(row.dataset.state); render(region, { counters: c, reactions: r }); }
}

async function setReaction(kind) {
  showError();
  try {
    const next = reaction === kind ? "" : kind;
    const path = `/v1/items/${encodeURIComponent(item)}/reactions/${encodeURIComponent(user)}`;
    if (next) await api(current, "PUT", path, { reaction: next });
    else await api(current, "DELETE", path);
    reaction = next;
    $("like").setAttribute("aria-pressed", String(reaction === "like"));
    $("dislike").setAttribute("aria-pressed", String(reaction === "dislike"));
  } catch (err) { showError(err); }
}

async function partition(region, cut) {
  await fetch("/dev/partition", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ region, cut }) });
  const row = document.querySelector(`#live tr[data-region="${region}"]`);
  row.classList.toggle("cut", cut);
}

async function main() {
  regions = await (await fetch("/dev/regions")).json();
  const nav = $("regions");
  const body = document.querySelector("#live tbody");
  for (const r of regions) {
    const b = document.createElement("button");
    b.textContent = r.name; b.dataset.region = r.name; b.id = `pick-${r.name}`;
    b.onclick = () => pick(r.name);
    nav.appendChild(b);
    const tr = document.createElement("tr");
    tr.dataset.region = r.name; tr.id = `region-${r.name}`;
    tr.innerHTML = `<td>${r.name}</td><td class="claps">–</td><td class="likes">–</td><td class="dislikes">–</td>` +
      `<td><label class="switch"><input type="checkbox" id="partition-${r.name}"> cut off</label></td>`;
    body.appendChild(tr);
    tr.querySelector("input").onchange = (e) => partition(r.name, e.target.checked).catch(showError);
    follow(r.name);
  }
  $("user").textContent = user;
  pick(params.get("region") || regions[0].name);
  $("clap").onclick = async () => {
    showError();
    try {
      const it = await api(current, "POST", `/v1/items/${encodeURIComponent(item)}/counters/claps`, { by: 1 });
      render(current, it);
    } catch (err) { showError(err); }
  };
  $("like").onclick = () => setReaction("like");
  $("dislike").onclick = () => setReaction("dislike");
}

main().catch(showError);
