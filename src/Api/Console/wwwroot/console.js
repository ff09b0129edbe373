// The Trellis console: one EventSource on ./events feeds every page; graphs are fetched from ./api/graphs/{name}.
const pages = {
  cluster: ['Cluster', renderCluster],
  nodes: ['Nodes', renderNodes],
  apps: ['Apps', renderApps],
  flows: ['Flows', renderFlows],
  activities: ['Activities', renderActivities],
  devices: ['Devices', renderDevices],
  errors: ['Errors', renderErrors],
  topics: ['Topics', renderTopics],
};

let snapshot = null;
const graphs = new Map();

function currentPage() {
  const name = location.hash.replace(/^#/, '');
  return pages[name] ? name : 'cluster';
}

function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function num(value, digits = 1) {
  return Number(value ?? 0).toFixed(digits);
}

function ms(seconds) {
  return seconds ? `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms` : '–';
}

function table(caption, headers, rows, empty) {
  if (!rows.length) {
    return `<p class="empty">${esc(empty)}</p>`;
  }
  const head = headers.map(h => `<th scope="col"${h.endsWith('#') ? ' class="num"' : ''}>${esc(h.replace(/#$/, ''))}</th>`).join('');
  const body = rows.map(r => `<tr>${r.map((cell, i) => {
    const numeric = headers[i].endsWith('#');
    return i === 0 ? `<th scope="row">${cell}</th>` : `<td${numeric ? ' class="num"' : ''}>${cell}</td>`;
  }).join('')}</tr>`).join('');
  return `<table><caption>${esc(caption)}</caption><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function failed(section) {
  return section && !Array.isArray(section) && section.error ? `<p class="bad">Could not read: ${esc(section.error)}</p>` : null;
}

function status(text) {
  const cls = ['ok', 'up', 'Active', 'running', 'online', 'serving'].includes(text) ? 'ok'
    : ['unavailable', 'dirty', 'Dead', 'offline', 'stopped'].includes(text) ? 'bad' : 'warn';
  return `<span class="${cls}">${esc(text)}</span>`;
}

function renderCluster(s) {
  let html = '<h2>Silos</h2>';
  html += failed(s.silos) ?? table('Orleans silos (management grain)',
    ['Silo', 'Status', 'Host', 'Activations#', 'CPU %#', 'Memory MB#', 'Clients#', 'Received#', 'Sent#'],
    s.silos.map(x => [esc(x.name || x.address), status(x.status), esc(x.host), num(x.activations, 0), num(x.cpu),
      num((x.memory ?? 0) / 1048576, 0), num(x.clients, 0), num(x.received, 0), num(x.sent, 0)]),
    'No silo answered.');
  html += '<h2>Gateways</h2>';
  html += table('Gateways named by node registrations, device links and this process',
    ['Gateway', 'Health', 'Nodes#', 'Nodes ok#', 'Devices online#'],
    s.gateways.map(g => [esc(g.id) + (g.here ? ' <span class="note">(this process)</span>' : ''), status(g.health), g.nodes, g.nodesOk, g.devices]),
    'No gateway known.');
  html += '<h2>Orleans counters</h2>';
  html += table("This process's Microsoft.Orleans meter (sums since the console started watching; gauges now)",
    ['Instrument', 'Value#', 'Unit'],
    s.orleans.map(c => [`<code>${esc(c.name)}</code>`, num(c.value, Number.isInteger(c.value) ? 0 : 2), esc(c.unit)]),
    'No Orleans measurement yet.');
  return html;
}

function renderNodes(s) {
  return failed(s.nodes) ?? table('Registered nodes',
    ['Node', 'Status', 'Services', 'Slots', 'Gateway', 'Calls/s#', 'Errors/s#', 'p50#', 'p99#'],
    s.nodes.map(n => [`<code>${esc(n.id)}</code>`, status(n.status),
      n.services.map(x => `${esc(x.topic)} <span class="note">(${esc(x.group)})</span>`).join('<br>') || '–',
      n.slots.map(x => esc(x.topic)).join('<br>') || '–', esc(n.gateway),
      num(n.callsPerSecond), num(n.errorsPerSecond), ms(n.p50), ms(n.p99)]),
    'No node is registered.');
}

function renderApps(s) {
  return failed(s.apps) ?? table('Active apps, by agent',
    ['App', 'Agent', 'Version', 'Watchers#', 'Children#', 'Pokes#', 'Pokes/s#'],
    s.apps.map(a => [`<code>${esc(a.app)}</code>`, esc(a.agent), esc(a.version), a.watchers, a.children, a.pokes, num(a.pokesPerSecond)]),
    'No app is active.');
}

function renderFlows(s) {
  const f = s.flows;
  if (failed(f)) {
    return failed(f);
  }
  let html = '<h2>Participants</h2>' + table('Participants discovered on fbp',
    ['Participant', 'Role', 'Component', 'In ports', 'Out ports', 'State'],
    f.participants.map(p => [esc(p.id), esc(p.role), esc(p.component), esc(p.inports.join(', ')), esc(p.outports.join(', ')), status(p.online ? 'online' : 'offline')]),
    'No participant is known.');
  html += '<h2>Graphs</h2>';
  if (!f.graphs.length) {
    return html + '<p class="empty">No graph is set.</p>';
  }
  for (const g of f.graphs) {
    html += `<h3>${esc(g.name)} ${status(g.started ? 'running' : 'stopped')}</h3>`;
    const graph = graphs.get(g.name);
    html += graph ? drawGraph(graph) : '<p class="note">Loading the graph…</p>';
    if (!graph) {
      loadGraph(g.name);
    }
  }
  return html;
}

async function loadGraph(name) {
  if (graphs.has(name)) {
    return;
  }
  graphs.set(name, null);
  try {
    const response = await fetch(`api/graphs/${encodeURIComponent(name)}`);
    if (response.ok) {
      graphs.set(name, await response.json());
      render();
    }
  } catch {
    graphs.delete(name);
  }
}

// Layered layout: a process's layer is one more than the deepest process feeding it (cycles stop at the node count).
function drawGraph(graph) {
  const names = graph.processes.map(p => p.name);
  const layer = new Map(names.map(n => [n, 0]));
  const edges = graph.connections.filter(c => c.src && c.tgt);
  for (let round = 0; round < names.length; round++) {
    let changed = false;
    for (const e of edges) {
      const next = (layer.get(e.src.process) ?? 0) + 1;
      if (layer.has(e.tgt.process) && next > layer.get(e.tgt.process) && next < names.length) {
        layer.set(e.tgt.process, next);
        changed = true;
      }
    }
    if (!changed) {
      break;
    }
  }
  const columns = new Map();
  const pos = new Map();
  const width = 150, height = 44, gapX = 70, gapY = 24;
  for (const n of names) {
    const l = layer.get(n);
    const row = columns.get(l) ?? 0;
    columns.set(l, row + 1);
    pos.set(n, { x: 10 + l * (width + gapX), y: 10 + row * (height + gapY) });
  }
  const w = 20 + Math.max(1, columns.size) * (width + gapX);
  const h = 20 + Math.max(1, ...columns.values()) * (height + gapY);
  const component = new Map(graph.processes.map(p => [p.name, p.component]));
  let svg = `<svg class="graph" role="img" aria-label="Graph ${esc(graph.name)}: ${names.length} processes, ${edges.length} connections" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">`;
  for (const e of edges) {
    const a = pos.get(e.src.process), b = pos.get(e.tgt.process);
    if (a && b) {
      svg += `<line x1="${a.x + width}" y1="${a.y + height / 2}" x2="${b.x}" y2="${b.y + height / 2}"><title>${esc(`${e.src.process}.${e.src.port} → ${e.tgt.process}.${e.tgt.port}`)}</title></line>`;
    }
  }
  for (const n of names) {
    const p = pos.get(n);
    svg += `<g><rect x="${p.x}" y="${p.y}" width="${width}" height="${height}" rx="6"></rect>`
      + `<text x="${p.x + 8}" y="${p.y + 18}">${esc(n)}</text>`
      + `<text x="${p.x + 8}" y="${p.y + 34}" class="note">${esc(component.get(n))}</text></g>`;
  }
  return svg + '</svg>';
}

function renderActivities(s) {
  return failed(s.activities) ?? table('Activities and the hosts they run on',
    ['Activity', 'Version', 'Enabled', 'Tags', 'Where it runs'],
    s.activities.map(a => [esc(a.name ?? a.id), esc(a.version), a.enabled ? 'yes' : 'no', esc(a.tags.join(', ')),
      a.hosts.map(h => `${esc(h.host)}: ${status(h.status)}${h.pid ? ` pid ${h.pid}` : ''}${h.restarts ? `, ${h.restarts} restarts` : ''}`).join('<br>') || '–']),
    'No activity has been reported.');
}

function renderDevices(s) {
  return failed(s.devices) ?? table('Edge devices',
    ['Device', 'State', 'Gateway', 'Agent', 'Services', 'Jobs'],
    s.devices.map(d => [esc(d.provider), status(d.online ? 'online' : 'offline'), esc(d.gateway),
      esc([d.version, d.arch, d.hostname].filter(Boolean).join(' · ')),
      esc(d.services.join(', ')) || '–',
      d.jobs.map(j => `${esc(j.name || j.id)}: ${status(j.status)}`).join('<br>') || '–']),
    'No device is known.');
}

function renderErrors(s) {
  return `<p>Reports on the error channel since the console started watching: <strong id="error-total">${s.errors.total}</strong></p>`
    + table('The error channel, newest first',
      ['Time', 'Code#', 'Topic', 'Origin', 'Message'],
      s.errors.tail.map(e => [esc(e.time ? new Date(e.time).toLocaleTimeString() : ''), e.code, `<code>${esc(e.topic)}</code>`, esc(e.origin), esc(e.message)]),
      'No error reported while the console was watching.');
}

function renderTopics(s) {
  return table('Requests handled by this process, per topic and group',
    ['Topic', 'Group', 'Calls/s#', 'Errors/s#', 'Total#', 'Errors#', 'p50#', 'p99#'],
    s.topics.map(t => [`<code>${esc(t.topic)}</code>`, esc(t.group), num(t.callsPerSecond), num(t.errorsPerSecond), t.total, t.errors, ms(t.p50), ms(t.p99)]),
    'No request handled while the console was watching.');
}

function render() {
  const name = currentPage();
  const [title, draw] = pages[name];
  document.title = `${title} · Trellis console`;
  document.getElementById('title').textContent = title;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#${name}`) {
      a.setAttribute('aria-current', 'page');
    } else {
      a.removeAttribute('aria-current');
    }
  }
  const page = document.getElementById('page');
  page.innerHTML = snapshot ? draw(snapshot) : '<p class="note">Waiting for the first snapshot…</p>';
  page.dataset.page = name;
}

function connect() {
  const live = document.getElementById('live');
  const events = new EventSource('events');
  events.addEventListener('snapshot', e => {
    snapshot = JSON.parse(e.data);
    live.textContent = `Live · ${new Date(snapshot.time).toLocaleTimeString()}`;
    render();
  });
  events.onerror = () => {
    live.textContent = 'Reconnecting…';
  };
}

window.addEventListener('hashchange', () => {
  render();
  document.getElementById('main').focus();
});
render();
connect();
