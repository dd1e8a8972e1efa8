// Edgepulse console: fleet, host (charts, incidents, detail on demand,
// live mode), incidents and query pages over the aggregator's Prometheus
// HTTP API and its WebSocket push (/ui/ws). No build step.
'use strict';

// window.__ep is what the browser test and ui-bench read: latencies
// measured here against this host's clock, render marks, counters.
const EP = window.__ep = { pushLat: [], liveLat: [], liveFrames: 0, liveBytesPerMin: 0, incidentsPushed: 0, rendered: {}, errors: [] };

// ---------- token, API ----------
let token = sessionStorage.getItem('ep_token') || '';

function headers() { return token ? { Authorization: 'Bearer ' + token } : {}; }

async function api(path, params) {
  const url = params ? path + '?' + new URLSearchParams(params) : path;
  const r = await fetch(url, { headers: headers() });
  if (r.status === 401) { showLogin('The token was refused.'); throw new Error('unauthorized'); }
  const body = await r.json();
  if (body.status !== 'success') throw new Error(body.error || ('HTTP ' + r.status));
  return body;
}

const nowS = () => Date.now() / 1000;
async function instant(q) { return (await api('/api/v1/query', { query: q })).data.result; }
async function range(q, start, end, step) {
  const b = await api('/api/v1/query_range', { query: q, start, end, step });
  return { result: b.data.result, warnings: b.warnings || [] };
}

function showLogin(msg) {
  const l = document.getElementById('login');
  l.hidden = false;
  document.getElementById('login-error').textContent = msg || '';
  document.getElementById('login-token').focus();
}

document.getElementById('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  token = document.getElementById('login-token').value.trim();
  try {
    const r = await fetch('/api/v1/status/buildinfo', { headers: headers() });
    if (r.status === 401) { showLogin('The token was refused.'); return; }
  } catch (err) { showLogin(String(err)); return; }
  sessionStorage.setItem('ep_token', token);
  document.getElementById('login').hidden = true;
  document.getElementById('signout').hidden = !token;
  ws.reconnect();
  route();
});

// Sign out: leave the page shown (its live mode ends), forget the token,
// close the push channel (the console then ends this tab's leases) and
// ask for a token again.
document.getElementById('signout').addEventListener('click', () => {
  routeGen++;
  if (cleanup) { cleanup(); cleanup = null; }
  ws.setLive(null);
  token = '';
  sessionStorage.removeItem('ep_token');
  ws.stop();
  $view().textContent = '';
  document.getElementById('signout').hidden = true;
  showLogin('Signed out.');
});

// ---------- WebSocket push ----------
const ws = {
  sock: null, handler: null, sub: { type: 'sub' }, live: null, delay: 500,
  connect() {
    const s = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ui/ws');
    this.sock = s;
    s.onopen = () => { s.send(JSON.stringify({ type: 'auth', token })); };
    s.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      const now = Date.now();
      if (m.type === 'hello') {
        this.delay = 500;
        setConn(true);
        s.send(JSON.stringify(this.sub));
        if (this.live) s.send(JSON.stringify(this.live));
        return;
      }
      if (m.type === 'window') EP.pushLat.push(now - m.applied);
      if (m.type === 'incident') { EP.pushLat.push(now - m.applied); EP.incidentsPushed++; }
      if (m.type === 'live') {
        EP.liveFrames++;
        EP.liveBytesPerMin = m.bytes_per_min;
        if (m.frame && m.frame.taken) EP.liveLat.push(now - m.frame.taken);
      }
      if (m.type === 'live_error') EP.errors.push(m.error);
      if (this.handler) this.handler(m);
    };
    s.onclose = (ev) => {
      setConn(false);
      if (this.sock !== s) return;
      if (ev.code === 4401) { showLogin('The push channel refused the token.'); return; }
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 15000);
    };
  },
  stop() { if (this.sock) { const s = this.sock; this.sock = null; s.close(); } setConn(false); },
  reconnect() { this.stop(); this.connect(); },
  send(m) { if (this.sock && this.sock.readyState === 1) this.sock.send(JSON.stringify(m)); },
  // subscribe replaces the page's subscription and push handler; gen is the
  // page's route generation, so a page already left cannot take them over.
  subscribe(gen, sub, handler) { alive(gen); this.sub = Object.assign({ type: 'sub' }, sub); this.handler = handler; this.send(this.sub); },
  setLive(m) {
    if (this.live && (!m || this.live.host !== m.host || this.live.site !== m.site)) this.send(Object.assign({}, this.live, { on: false }));
    this.live = m;
    if (m) this.send(m);
  },
};

function setConn(on) {
  const c = document.getElementById('conn');
  c.className = 'conn ' + (on ? 'on' : 'off');
  c.textContent = 'push: ' + (on ? 'on' : 'off');
}

// ---------- helpers ----------
const $view = () => document.getElementById('view');
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) if (k != null) e.append(k.nodeType ? k : String(k));
  return e;
}
const esc = (s) => String(s).replace(/[\\"]/g, (c) => '\\' + c);
const reEsc = (s) => String(s).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const hostKey = (m) => m.site + '/' + m.instance;
function fmtBytes(v) {
  if (v == null || isNaN(v)) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']; let i = 0;
  while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return v.toFixed(v < 10 && i ? 1 : 0) + ' ' + u[i];
}
const pct = (v) => (v == null || isNaN(v)) ? '–' : (v * 100).toFixed(1) + ' %';
function fmtAge(s) { if (s == null) return '–'; if (s < 120) return Math.round(s) + ' s'; if (s < 7200) return Math.round(s / 60) + ' min'; return Math.round(s / 3600) + ' h'; }
const fmtTime = (ms) => new Date(ms).toLocaleString();
function byHost(res) { const m = new Map(); for (const r of res) m.set(hostKey(r.metric), parseFloat(r.value[1])); return m; }
function quantile(a, q) { if (!a.length) return NaN; const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; }

function spark(values, fmtMax) {
  const c = h('canvas', { class: 'spark', width: 90, height: 20 });
  const v = values.filter((x) => !isNaN(x));
  if (v.length < 2) return c;
  const ctx = c.getContext('2d');
  let lo = Math.min(...v), hi = Math.max(...v);
  if (fmtMax != null) { lo = Math.min(lo, 0); hi = Math.max(hi, fmtMax); }
  if (hi === lo) { hi += 1; lo -= 1; }
  ctx.strokeStyle = '#1f5fa8'; ctx.lineWidth = 1.2; ctx.beginPath();
  values.forEach((x, i) => {
    if (isNaN(x)) return;
    const px = i / (values.length - 1) * 88 + 1, py = 19 - (x - lo) / (hi - lo) * 18;
    i ? ctx.lineTo(px, py) : ctx.moveTo(px, py);
  });
  ctx.stroke();
  return c;
}

// ---------- router ----------
// Each route() starts a generation. A page's queries can answer after the
// user (or the test) has moved on; the page then must not draw, subscribe,
// take the push handler or the cleanup of the page that replaced it, nor
// start live mode. Pages call alive(gen) after every await, which throws
// STALE for a page that was left (route() drops it silently).
let routeGen = 0;
const STALE = new Error('stale page');
function alive(gen) { if (gen !== routeGen) throw STALE; }
let cleanup = null;
// onLeave registers the current page's cleanup (run by the next route()).
function onLeave(gen, fn) { alive(gen); cleanup = fn; }
function route() {
  const gen = ++routeGen;
  if (cleanup) { cleanup(); cleanup = null; }
  ws.setLive(null);
  const [path, qs] = (location.hash.slice(1) || '/fleet').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(qs || '');
  const page = parts[0] || 'fleet';
  document.querySelectorAll('header nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === page));
  const v = $view(); v.textContent = '';
  const run = { fleet: () => fleetPage(gen), host: () => hostPage(gen, parts[1], parts[2], params), incidents: () => incidentsPage(gen, params), query: () => queryPage(gen, params) }[page] || (() => fleetPage(gen));
  run().catch((err) => { if (err !== STALE && gen === routeGen && err.message !== 'unauthorized') v.append(h('p', { class: 'error' }, String(err))); });
}
window.addEventListener('hashchange', route);

// ---------- fleet ----------
// onInstances restricts every node_… selector of q to the instances
// matching the regular expression re.
const onInstances = (q, re) => q.replace(/node_([A-Za-z0-9_:]+)(\{([^}]*)\})?/g, (m, n, _b, inner) => `node_${n}{${inner ? inner + ',' : ''}instance=~"${esc(re)}"}`);

// Headline signals of every host, one instant query each.
const FLEET_Q = {
  cpu: '1 - avg by (site, instance) (node_cpu_seconds_total:avg{mode="idle"})',
  mem: 'node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes',
  fs: 'max by (site, instance) (1 - node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|devtmpfs|overlay|squashfs|nsfs"} / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|devtmpfs|overlay|squashfs|nsfs"})',
  load: 'node_load1 / on (site, instance) count by (site, instance) (node_cpu_seconds_total{mode="idle"})',
};
const PAGE = 50;

async function fleetPage(gen) {
  const t0 = performance.now();
  const v = $view();
  v.append(h('h1', {}, 'Fleet'));
  const status = h('span', { class: 'muted' }, 'loading…');
  const search = h('input', { id: 'fleet-search', placeholder: 'filter: host, site or label=value', size: 34 });
  const siteSel = h('select', { id: 'fleet-site' }, h('option', { value: '' }, 'all sites'));
  const stSel = h('select', { id: 'fleet-status' }, ['', 'up', 'late', 'gone'].map((s) => h('option', { value: s }, s || 'any status')));
  v.append(h('div', { class: 'bar' }, search, siteSel, stSel, status));
  const bh = h('div', { class: 'bar muted', id: 'fleet-backhaul' });
  v.append(bh);
  const table = h('table', { id: 'fleet-table' });
  const pager = h('div', { class: 'pager' });
  v.append(table, pager);

  const end = nowS();
  const [series, seen, cpu, mem, fs, load, incs, back] = await Promise.all([
    api('/api/v1/series', { 'match[]': 'node_load1', start: end - 86400, end }).then((b) => b.data),
    instant('timestamp(node_load1)'), instant(FLEET_Q.cpu), instant(FLEET_Q.mem), instant(FLEET_Q.fs), instant(FLEET_Q.load),
    api('/ui/api/incidents', { hours: 1, limit: 1 }).then((b) => b.data.open).catch(() => []),
    api('/api/v1/backhaul', { minutes: 10 }).then((b) => b.data).catch(() => []),
  ]);
  alive(gen);
  const last = byHost(seen), vals = { cpu: byHost(cpu), mem: byHost(mem), fs: byHost(fs), load: byHost(load) };
  const open = new Map();
  for (const i of incs) open.set(i.site + '/' + i.host, (open.get(i.site + '/' + i.host) || 0) + 1);
  const hosts = new Map();
  for (const s of series) {
    const k = hostKey(s);
    if (!hosts.has(k)) hosts.set(k, { site: s.site, host: s.instance, labels: s });
  }
  const all = [...hosts.values()].sort((a, b) => (a.site + a.host).localeCompare(b.site + b.host));
  for (const site of [...new Set(all.map((x) => x.site))]) siteSel.append(h('option', { value: site }, site));
  bh.textContent = back.length ? 'Backhaul (frames, last 10 min): ' + back.map((b) => `${b.site} ${Math.round(b.bytes_per_host_minute)} B/host-min · ${b.hosts.toFixed(0)} hosts`).join(' | ') : 'Backhaul: no frames in the last 10 min';

  const hostStatus = (x) => {
    const t = last.get(x.site + '/' + x.host);
    if (t == null) return ['gone', null];
    const age = nowS() - t;
    return [age <= 150 ? 'up' : 'late', age];
  };
  let pageNo = 0, filtered = all, sparkTimer = null;
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    filtered = all.filter((x) => {
      if (siteSel.value && x.site !== siteSel.value) return false;
      if (stSel.value && hostStatus(x)[0] !== stSel.value) return false;
      if (!q) return true;
      if (q.includes('=')) { const [k, val] = q.split('='); return String(x.labels[k.trim()] || '').toLowerCase() === val.trim(); }
      return x.host.toLowerCase().includes(q) || x.site.toLowerCase().includes(q);
    });
    pageNo = Math.min(pageNo, Math.max(0, Math.ceil(filtered.length / PAGE) - 1));
    const rows = filtered.slice(pageNo * PAGE, pageNo * PAGE + PAGE);
    table.textContent = '';
    table.append(h('tr', {}, ['site', 'host', 'status', 'last window', 'incidents', 'CPU busy', '', 'mem available', '', 'worst fs used', '', 'load / CPU', ''].map((c) => h('th', {}, c))));
    for (const x of rows) {
      const k = x.site + '/' + x.host, [st, age] = hostStatus(x), n = open.get(k) || 0;
      table.append(h('tr', { class: 'clickable', 'data-host': k, onclick: () => { location.hash = '#/host/' + encodeURIComponent(x.site) + '/' + encodeURIComponent(x.host); } },
        h('td', {}, x.site), h('td', {}, h('a', { href: '#/host/' + encodeURIComponent(x.site) + '/' + encodeURIComponent(x.host) }, x.host)),
        h('td', {}, h('span', { class: 'st ' + st }, st)), h('td', { class: 'num' }, fmtAge(age)),
        h('td', { class: n ? 'inc num' : 'num' }, n),
        h('td', { class: 'num' }, pct(vals.cpu.get(k))), h('td', { 'data-spark': 'cpu' }),
        h('td', { class: 'num' }, pct(vals.mem.get(k))), h('td', { 'data-spark': 'mem' }),
        h('td', { class: 'num' }, pct(vals.fs.get(k))), h('td', { 'data-spark': 'fs' }),
        h('td', { class: 'num' }, vals.load.has(k) ? vals.load.get(k).toFixed(2) : '–'), h('td', { 'data-spark': 'load' })));
    }
    const pages = Math.max(1, Math.ceil(filtered.length / PAGE));
    pager.textContent = '';
    pager.append(h('button', { onclick: () => { if (pageNo > 0) { pageNo--; draw(); } } }, '‹'),
      `page ${pageNo + 1} of ${pages} · ${filtered.length} of ${all.length} hosts`,
      h('button', { onclick: () => { if (pageNo < pages - 1) { pageNo++; draw(); } } }, '›'));
    status.textContent = `${all.length} hosts · ${[...open.values()].reduce((a, b) => a + b, 0)} open incidents`;
    clearTimeout(sparkTimer);
    sparkTimer = setTimeout(() => sparks(rows), 50);
  };
  // Sparklines for the hosts on the page only: the last hour, 60 points.
  const sparks = async (rows) => {
    if (!rows.length) return;
    const re = rows.map((x) => reEsc(x.host)).join('|');
    const e = nowS(), s = e - 3600;
    const sel = (q) => onInstances(q, re);
    await Promise.all(Object.entries(FLEET_Q).map(async ([key, q]) => {
      let res;
      try { res = (await range(sel(q), s, e, 60)).result; } catch { return; }
      if (gen !== routeGen) return;
      const m = new Map(res.map((r) => [hostKey(r.metric), r.values]));
      for (const tr of table.querySelectorAll('tr[data-host]')) {
        const vals60 = m.get(tr.dataset.host);
        const td = tr.querySelector(`td[data-spark="${key}"]`);
        if (!vals60 || !td) continue;
        const series = new Array(61).fill(NaN);
        for (const [t, val] of vals60) series[Math.round((t - s) / 60)] = parseFloat(val);
        td.textContent = '';
        td.append(spark(series, key === 'load' ? null : 1));
      }
    }));
  };
  search.addEventListener('input', () => { pageNo = 0; draw(); });
  siteSel.addEventListener('change', () => { pageNo = 0; draw(); });
  stSel.addEventListener('change', () => { pageNo = 0; draw(); });
  draw();
  EP.rendered.fleet = performance.now();
  EP.rendered.fleetHosts = all.length;
  EP.rendered.fleetPage = performance.now() - t0;

  // Pushes update the status, age and incident cells of the rows shown in
  // place (once a second at most); sparklines are not refetched for them.
  const dirty = new Set();
  let redraw = null;
  const patch = () => {
    redraw = null;
    for (const k of dirty) {
      const tr = table.querySelector(`tr[data-host="${CSS.escape(k)}"]`);
      if (!tr) continue;
      const [site, ...rest] = k.split('/');
      const [st, age] = hostStatus({ site, host: rest.join('/') });
      const n = open.get(k) || 0;
      tr.cells[2].firstChild.className = 'st ' + st; tr.cells[2].firstChild.textContent = st;
      tr.cells[3].textContent = fmtAge(age);
      tr.cells[4].textContent = n; tr.cells[4].className = n ? 'inc num' : 'num';
    }
    dirty.clear();
    status.textContent = `${all.length} hosts · ${[...open.values()].reduce((a, b) => a + b, 0)} open incidents`;
  };
  // A host whose first window arrives after the page loaded is added
  // (by push, no reload): the list is redrawn at most every 500 ms, then
  // its headline values are fetched for the new hosts only.
  const fresh = new Map();
  let grow = null;
  const grown = async () => {
    grow = null;
    const added = [...fresh.values()];
    fresh.clear();
    all.sort((a, b) => (a.site + a.host).localeCompare(b.site + b.host));
    EP.rendered.fleetHosts = all.length;
    draw();
    const re = added.map((x) => reEsc(x.host)).join('|');
    await Promise.all(Object.entries(FLEET_Q).map(async ([key, q]) => {
      try { for (const [hk, val] of byHost(await instant(onInstances(q, re)))) vals[key].set(hk, val); } catch { /* left as – */ }
    }));
    if (gen === routeGen) draw();
  };
  const addHost = (site, host) => {
    const k = site + '/' + host, x = { site, host, labels: { site, instance: host } };
    hosts.set(k, x);
    all.push(x);
    fresh.set(k, x);
    if (![...siteSel.options].some((o) => o.value === site)) siteSel.append(h('option', { value: site }, site));
    if (!grow) grow = setTimeout(grown, 500);
  };
  ws.subscribe(gen, { fleet: true, incidents: true }, (m) => {
    let k;
    if (m.type === 'window') {
      k = m.site + '/' + m.host; last.set(k, (m.start + m.width) / 1000);
      if (!hosts.has(k)) { addHost(m.site, m.host); return; }
    }
    else if (m.type === 'incident') {
      k = m.incident.site + '/' + m.incident.host;
      open.set(k, Math.max(0, (open.get(k) || 0) + (m.incident.state === 'open' ? 1 : -1)));
    } else return;
    dirty.add(k);
    if (!redraw) redraw = setTimeout(patch, 1000);
  });
  onLeave(gen, () => { clearTimeout(redraw); clearTimeout(grow); });
}

// ---------- host ----------
const RANGES = { '15m': 900, '1h': 3600, '6h': 21600, '24h': 86400 };

// chart definitions: window statistics (avg, min–max band, p99), and the
// plain series to fetch raw 1 s detail with when zoomed below a window.
function hostCharts(sel) {
  return [
    { id: 'load', title: 'Load (1 min)', avg: `node_load1:avg${sel}`, min: `node_load1:min${sel}`, max: `node_load1:max${sel}`, p99: `node_load1:p99${sel}`, raw: `node_load1${sel}`, fmt: (v) => v.toFixed(2) },
    { id: 'cpu', title: 'CPU busy', avg: `1 - avg(node_cpu_seconds_total:avg${sel.replace('}', ',mode="idle"}')})`, min: `1 - avg(node_cpu_seconds_total:max${sel.replace('}', ',mode="idle"}')})`, max: `1 - avg(node_cpu_seconds_total:min${sel.replace('}', ',mode="idle"}')})`, fmt: pct },
    { id: 'mem', title: 'Memory available', avg: `node_memory_MemAvailable_bytes:avg${sel}`, min: `node_memory_MemAvailable_bytes:min${sel}`, max: `node_memory_MemAvailable_bytes:max${sel}`, raw: `node_memory_MemAvailable_bytes${sel}`, fmt: fmtBytes },
    { id: 'procs', title: 'Processes running', avg: `node_procs_running:avg${sel}`, min: `node_procs_running:min${sel}`, max: `node_procs_running:max${sel}`, p99: `node_procs_running:p99${sel}`, raw: `node_procs_running${sel}`, fmt: (v) => v.toFixed(1) },
  ];
}

// live series: what the agent streams while the page is in live mode.
const LIVE_SERIES = [{ name: 'node_load1' }, { name: 'node_memory_MemAvailable_bytes' }, { name: 'node_procs_running' }, { name: 'node_cpu_seconds_total', matchers: { mode: 'idle' } }];

function toCols(results, start, end, step) {
  const n = Math.floor((end - start) / step) + 1;
  const xs = Array.from({ length: n }, (_, i) => start + i * step);
  const col = (res) => {
    const ys = new Array(n).fill(null);
    if (res && res[0]) for (const [t, v] of res[0].values) { const i = Math.round((t - start) / step); if (i >= 0 && i < n) ys[i] = parseFloat(v); }
    return ys;
  };
  return [xs, ...results.map(col)];
}

function rawCols(res) {
  const vals = (res && res[0]) ? res[0].values : [];
  return [vals.map((p) => p[0]), vals.map((p) => parseFloat(p[1]))];
}

function markerPlugin(getIncs) {
  return { hooks: { draw: (u) => {
    const ctx = u.ctx; ctx.save(); ctx.strokeStyle = '#b3261e'; ctx.lineWidth = 2;
    for (const i of getIncs()) {
      const x = u.valToPos(i.time_ms / 1000, 'x', true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
    }
    ctx.restore();
  } } };
}

async function hostPage(gen, site, host, params) {
  const v = $view();
  const sel = `{site="${esc(site)}",instance="${esc(host)}"}`;
  const rng = params.get('range') || '1h';
  let end = params.has('to') ? parseFloat(params.get('to')) : nowS();
  let start = params.has('from') ? parseFloat(params.get('from')) : end - (RANGES[rng] || 3600);
  const following = !params.has('to');
  const setRange = (from, to) => { location.hash = `#/host/${encodeURIComponent(site)}/${encodeURIComponent(host)}?from=${from.toFixed(0)}&to=${to.toFixed(0)}`; };

  v.append(h('h1', {}, `${host} `, h('span', { class: 'muted' }, `site ${site}`)));
  // A click before the page is ready (its first queries) is kept.
  let liveToggle = null, liveWanted = false;
  const liveBtn = h('button', { id: 'live-btn', onclick: () => (liveToggle ? liveToggle() : (liveWanted = !liveWanted)) }, 'Live: off');
  const bar = h('div', { class: 'bar' },
    ...Object.keys(RANGES).map((r) => h('button', { class: following && r === rng ? 'on' : '', onclick: () => { location.hash = `#/host/${encodeURIComponent(site)}/${encodeURIComponent(host)}?range=${r}`; } }, r)),
    h('span', { class: 'muted' }, `${fmtTime(start * 1000)} → ${following ? 'now' : fmtTime(end * 1000)} · drag on a chart to zoom`),
    liveBtn);
  v.append(bar);
  const note = h('div', { id: 'host-note' });
  v.append(note);
  const liveBox = h('div', { id: 'live', hidden: '' });
  v.append(liveBox);
  const grid = h('div', { class: 'charts' });
  v.append(grid);
  v.append(h('h2', {}, 'Incidents in range'));
  const incTable = h('table', { id: 'host-incidents' });
  const ctxBox = h('div', { id: 'incident-context' });
  v.append(incTable, ctxBox);

  // Width of the host's windows in seconds: node_load1:count is the
  // samples per window (one a second).
  let width = 60;
  try {
    const c = await instant(`node_load1:count${sel}`);
    if (c[0]) width = Math.max(1, parseFloat(c[0].value[1]));
  } catch (e) { if (e.message === 'unauthorized') throw e; }
  alive(gen);
  let incs = [];
  const plots = [];
  const span = end - start;
  // Detail on demand only when zoomed in (a chosen from/to) to fewer than
  // 30 windows: the agent's raw samples then cross the leaf link once.
  const detail = !following && span < 30 * width;
  const step = Math.max(1, Math.round(span / 300));

  const loadIncidents = async () => {
    try {
      const d = (await api('/ui/api/incidents', { hours: Math.min(720, Math.max(1, Math.ceil((nowS() - start) / 3600) + 1)), limit: 2000 })).data;
      const seenKeys = new Set();
      incs = [...d.open, ...d.recent].filter((i) => i.site === site && i.host === host && i.state === 'open')
        .filter((i) => { const k = i.incident + i.series; if (seenKeys.has(k)) return false; seenKeys.add(k); return true; });
    } catch { incs = []; }
    alive(gen);
    drawIncidents();
  };
  const drawIncidents = () => {
    incTable.textContent = '';
    incTable.append(h('tr', {}, ['opened', 'signal', 'labels', 'value', 'score', 'reason'].map((c) => h('th', {}, c))));
    for (const i of incs.filter((i) => i.time_ms / 1000 >= start - 60 && i.time_ms / 1000 <= end + 60)) {
      incTable.append(h('tr', { class: 'clickable', 'data-incident': i.incident, onclick: () => showContext(i) },
        h('td', {}, fmtTime(i.time_ms)), h('td', { class: 'inc' }, i.series), h('td', {}, JSON.stringify(i.labels || {})),
        h('td', { class: 'num' }, Number(i.value).toPrecision(4)), h('td', { class: 'num' }, Number(i.score).toFixed(2)), h('td', {}, i.reason || '')));
    }
    plots.forEach((p) => p.redraw());
  };
  const showContext = (i) => {
    ctxBox.textContent = '';
    const n = (i.context || []).length;
    ctxBox.append(h('h2', {}, `Incident ${i.incident} on ${i.series}: raw samples around ${fmtTime(i.time_ms)} (${n} at ${(i.context_step_ms || 1000) / 1000} s)`));
    if (!n) { ctxBox.append(h('p', { class: 'muted' }, 'no raw context was sent with this incident')); return; }
    const xs = i.context.map((_, k) => (i.context_start_ms + k * i.context_step_ms) / 1000);
    const box = h('div', { class: 'card', id: 'context-chart' });
    ctxBox.append(box);
    new uPlot({ width: 700, height: 180, series: [{}, { label: i.series, stroke: '#b3261e' }], plugins: [markerPlugin(() => [i])] }, [xs, i.context], box);
  };

  const drawCharts = async () => {
    const charts = hostCharts(sel);
    const notes = new Set();
    const out = await Promise.all(charts.map(async (c) => {
      if (detail && c.raw) {
        const r = await range(c.raw, start, end, 1);
        r.warnings.forEach((w) => notes.add(w));
        return { c, data: rawCols(r.result), raw: true };
      }
      const qs = [c.avg, c.min, c.max, c.p99].filter(Boolean);
      const rs = await Promise.all(qs.map((q) => range(q, start, end, detail ? width : Math.max(step, width))));
      rs.forEach((r) => r.warnings.forEach((w) => notes.add(w)));
      return { c, data: toCols(rs.map((r) => r.result), start, end, detail ? width : Math.max(step, width)), raw: false };
    }));
    alive(gen);
    grid.textContent = '';
    plots.length = 0;
    for (const { c, data, raw } of out) {
      const card = h('div', { class: 'card', 'data-chart': c.id });
      const points = data[1].filter((x) => x != null).length;
      card.append(h('h3', {}, c.title, ' ', h('span', { class: 'muted' }, raw ? '· raw 1 s samples from the agent (detail on demand)' : `· ${width} s windows: avg, min–max band${c.p99 ? ', p99' : ''}`)));
      card.dataset.points = points;
      grid.append(card);
      const series = [{}, { label: raw ? 'raw' : 'avg', stroke: '#1f5fa8', width: 1.5, value: (u, x) => x == null ? '–' : c.fmt(x) }];
      const bands = [];
      if (!raw) {
        series.push({ label: 'min', stroke: 'rgba(31,95,168,.25)', value: (u, x) => x == null ? '–' : c.fmt(x) }, { label: 'max', stroke: 'rgba(31,95,168,.25)', value: (u, x) => x == null ? '–' : c.fmt(x) });
        bands.push({ series: [3, 2], fill: 'rgba(31,95,168,.12)' });
        if (c.p99) series.push({ label: 'p99', stroke: '#d08a12', dash: [4, 3], value: (u, x) => x == null ? '–' : c.fmt(x) });
      }
      const p = new uPlot({ width: Math.max(420, Math.floor(grid.clientWidth / 2) - 30), height: 190, series, bands,
        axes: [{}, { values: (u, ts) => ts.map((x) => c.fmt(x)), size: 70 }],
        cursor: { drag: { x: true, y: false } }, select: { show: true },
        hooks: { setSelect: [(u) => { if (u.select.width > 5) { const a = u.posToVal(u.select.left, 'x'), b = u.posToVal(u.select.left + u.select.width, 'x'); setRange(a, b); } }] },
        plugins: [markerPlugin(() => incs)] }, data, card);
      plots.push(p);
    }
    note.textContent = '';
    if (detail) note.append(h('div', { class: 'note' }, `Zoomed to ${Math.round(span)} s, fewer than 30 of the host's ${width} s windows: the gauge charts show the agent's raw 1 s samples, fetched over the leaf link now (detail on demand).`));
    for (const w of notes) note.append(h('div', { class: 'note muted' }, w));
    EP.rendered.host = performance.now();
    EP.rendered.hostPoints = out.map((o) => o.data[1].filter((x) => x != null).length);
  };

  // live mode
  let live = null;
  const liveOff = () => { live = null; liveBtn.textContent = 'Live: off'; liveBtn.className = ''; liveBox.hidden = true; ws.setLive(null); };
  const liveOn = () => {
    live = { frames: 0, lat: [], load: [[], []], cpu: [[], []], mem: [[], []], prevIdle: null, plots: [] };
    liveBtn.textContent = 'Live: on'; liveBtn.className = 'on';
    liveBox.hidden = false; liveBox.textContent = '';
    const stat = h('div', { class: 'bar', id: 'live-stat' }, 'waiting for the agent…');
    liveBox.append(h('h2', {}, 'Live (1 s samples streamed by the agent while this page watches)'), stat);
    const lg = h('div', { class: 'charts' }); liveBox.append(lg);
    for (const [k, title, fmt] of [['cpu', 'CPU busy (1 s)', pct], ['load', 'Load (1 s)', (x) => x.toFixed(2)], ['mem', 'Memory available (1 s)', fmtBytes]]) {
      const card = h('div', { class: 'card', 'data-live': k }, h('h3', {}, title)); lg.append(card);
      live.plots.push([k, new uPlot({ width: 460, height: 150, series: [{}, { label: k, stroke: '#2e8b57', width: 1.5, value: (u, x) => x == null ? '–' : fmt(x) }], axes: [{}, { values: (u, ts) => ts.map(fmt), size: 70 }] }, live[k], card)]);
    }
    live.stat = stat;
    ws.setLive({ type: 'live', site, host, on: true, series: LIVE_SERIES });
  };
  liveToggle = () => (live ? liveOff() : liveOn());
  if (liveWanted) liveOn();
  const onLive = (m) => {
    if (!live) return;
    const f = m.frame, t = f.t / 1000;
    live.frames++;
    live.lat.push(Date.now() - f.taken);
    let idle = 0, ncpu = 0;
    const named = (s, n) => s === n || s.startsWith(n + '{');
    for (const [s, val] of f.p) {
      if (named(s, 'node_load1')) { live.load[0].push(t); live.load[1].push(val); }
      else if (named(s, 'node_memory_MemAvailable_bytes')) { live.mem[0].push(t); live.mem[1].push(val); }
      else if (named(s, 'node_cpu_seconds_total')) { idle += val; ncpu++; }
    }
    if (ncpu) {
      if (live.prevIdle && t > live.prevIdle[0]) { live.cpu[0].push(t); live.cpu[1].push(Math.min(1, Math.max(0, 1 - (idle - live.prevIdle[1]) / ((t - live.prevIdle[0]) * ncpu)))); }
      live.prevIdle = [t, idle];
    }
    for (const k of ['load', 'cpu', 'mem']) if (live[k][0].length > 180) { live[k][0].shift(); live[k][1].shift(); }
    for (const [k, p] of live.plots) p.setData(live[k]);
    EP.rendered.live = { load: live.load[0].length, mem: live.mem[0].length, cpu: live.cpu[0].length };
    live.stat.textContent = `${live.frames} frames · uplink cost ${fmtBytes(m.bytes_per_min)}/min (live frames' payload at the hub; the leaf link compresses it) · latency sample→browser p50 ${quantile(live.lat, 0.5)} ms, p99 ${quantile(live.lat, 0.99)} ms`;
  };

  let refresh = null;
  ws.subscribe(gen, { incidents: true, hosts: [{ site, host, names: ['node_load1'] }] }, (m) => {
    if (m.type === 'live' && m.site === site && m.host === host) onLive(m);
    else if (m.type === 'live_error' && live) live.stat.textContent = 'live: ' + m.error;
    else if (m.type === 'window' && m.site === site && m.host === host && following && !refresh) {
      refresh = setTimeout(() => { refresh = null; end = nowS(); start = end - (RANGES[rng] || 3600); drawCharts().catch(() => {}); }, 300);
    } else if (m.type === 'incident' && m.incident.site === site && m.incident.host === host) {
      if (m.incident.state === 'open') incs.unshift(m.incident); else incs = incs.filter((i) => i.incident !== m.incident.incident);
      drawIncidents();
    }
  });
  onLeave(gen, () => { clearTimeout(refresh); if (live) liveOff(); });
  await Promise.all([drawCharts(), loadIncidents()]);
  alive(gen);
  if (params.has('inc')) { const i = incs.find((x) => String(x.incident) === params.get('inc')); if (i) showContext(i); }
}

// ---------- incidents ----------
async function incidentsPage(gen, params) {
  const v = $view();
  v.append(h('h1', {}, 'Incidents'));
  const f = h('input', { id: 'inc-filter', placeholder: 'filter: site, host or signal', size: 30, value: params.get('q') || '' });
  const st = h('select', { id: 'inc-state' }, ['open', 'all'].map((s) => h('option', { value: s }, s === 'open' ? 'open now' : 'open and closed, last 24 h')));
  v.append(h('div', { class: 'bar' }, f, st));
  const table = h('table', { id: 'inc-table' });
  v.append(table);
  const d = (await api('/ui/api/incidents', { hours: 24, limit: 2000 })).data;
  alive(gen);
  let open = d.open.sort((a, b) => b.time_ms - a.time_ms), recent = d.recent;
  const draw = () => {
    const q = f.value.trim().toLowerCase();
    const rows = (st.value === 'open' ? open : recent).filter((i) => !q || [i.site, i.host, i.series].some((s) => s.toLowerCase().includes(q)));
    table.textContent = '';
    table.append(h('tr', {}, ['time', 'state', 'site', 'host', 'signal', 'labels', 'value', 'score', 'reason'].map((c) => h('th', {}, c))));
    for (const i of rows) {
      const t = i.time_ms / 1000;
      const link = `#/host/${encodeURIComponent(i.site)}/${encodeURIComponent(i.host)}?from=${(t - 900).toFixed(0)}&to=${(t + 900).toFixed(0)}&inc=${i.incident}`;
      table.append(h('tr', { class: 'clickable', onclick: () => { location.hash = link; } },
        h('td', {}, fmtTime(i.time_ms)), h('td', { class: i.state === 'open' ? 'inc' : 'muted' }, i.state), h('td', {}, i.site),
        h('td', {}, h('a', { href: link }, i.host)), h('td', {}, i.series), h('td', {}, JSON.stringify(i.labels || {})),
        h('td', { class: 'num' }, Number(i.value).toPrecision(4)), h('td', { class: 'num' }, Number(i.score).toFixed(2)), h('td', {}, i.reason || '')));
    }
    if (!rows.length) table.append(h('tr', {}, h('td', { colspan: 9, class: 'muted' }, 'no incidents')));
    EP.rendered.incidents = performance.now();
  };
  f.addEventListener('input', draw); st.addEventListener('change', draw);
  draw();
  ws.subscribe(gen, { incidents: true }, (m) => {
    if (m.type !== 'incident') return;
    const i = m.incident;
    recent.unshift(i);
    if (i.state === 'open') open.unshift(i); else open = open.filter((x) => !(x.incident === i.incident && x.site === i.site && x.host === i.host));
    draw();
  });
}

// ---------- query ----------
async function queryPage(gen, params) {
  const v = $view();
  v.append(h('h1', {}, 'Query'));
  const ta = h('textarea', { id: 'query-expr', rows: 3 }, params.get('q') || 'node_load1');
  const rs = h('select', { id: 'query-range' }, Object.keys(RANGES).map((r) => h('option', { value: r }, r)));
  rs.value = params.get('range') || '1h';
  const run = h('button', { id: 'query-run' }, 'Run');
  const msg = h('div', { id: 'query-msg' });
  const chart = h('div', { class: 'card', id: 'query-chart' });
  const table = h('table', { id: 'query-table' });
  v.append(ta, h('div', { class: 'bar' }, rs, run, h('span', { class: 'muted' }, 'PromQL over the same API; X:avg, X:min, X:max, X:p99 are the window statistics')), msg, chart, table);
  const go = async () => {
    msg.textContent = ''; chart.textContent = ''; table.textContent = '';
    const end = nowS(), start = end - RANGES[rs.value], step = Math.max(1, Math.round((end - start) / 300));
    let r;
    try { r = await range(ta.value, start, end, step); } catch (e) { msg.append(h('p', { class: 'error' }, String(e.message))); return; }
    if (gen !== routeGen) return;
    r.warnings.forEach((w) => msg.append(h('div', { class: 'note muted' }, w)));
    const res = r.result.slice(0, 20);
    if (r.result.length > 20) msg.append(h('div', { class: 'note' }, `${r.result.length} series; the chart shows the first 20`));
    const data = toCols(res.map((x) => [x]), start, end, step);
    const colors = ['#1f5fa8', '#2e8b57', '#d08a12', '#b3261e', '#6a4c93', '#1b998b', '#e76f51', '#457b9d'];
    const label = (m) => { const { __name__, ...rest } = m; return (__name__ || '') + JSON.stringify(rest); };
    new uPlot({ width: Math.min(1100, v.clientWidth - 20), height: 260, series: [{}, ...res.map((x, i) => ({ label: label(x.metric), stroke: colors[i % colors.length] }))], legend: { show: res.length <= 6 } }, data, chart);
    table.append(h('tr', {}, h('th', {}, 'series'), h('th', {}, 'last value'), h('th', {}, 'at')));
    for (const x of r.result) {
      const last = x.values[x.values.length - 1];
      table.append(h('tr', {}, h('td', {}, label(x.metric)), h('td', { class: 'num' }, last[1]), h('td', {}, fmtTime(last[0] * 1000))));
    }
    EP.rendered.query = performance.now();
    EP.rendered.querySeries = r.result.length;
  };
  run.addEventListener('click', go);
  ta.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) go(); });
  ws.subscribe(gen, {}, null);
  await go();
}

// ---------- start ----------
(async () => {
  const r = await fetch('/api/v1/status/buildinfo', { headers: headers() });
  ws.connect();
  if (r.status === 401) { showLogin(token ? 'The token was refused.' : ''); return; }
  document.getElementById('signout').hidden = !token;
  route();
})();
