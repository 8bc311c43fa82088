// stalkd dashboard: one live table of nodes and tubes, fed over a WebSocket (full snapshot, then
// per-second diffs), with a drill-down to peek jobs and token-guarded admin actions.
// Plain browser JavaScript, no build step. Every server-provided string reaches the page through
// textContent, never innerHTML, so tube names and job bodies cannot inject markup.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = 'stalkd.adminToken';

  /** Table columns: the row fields each one shows, and how. */
  const COLUMNS = [
    {
      col: 'name',
      cls: 'name',
      fields: ['name', 'address', 'members', 'failover'],
      node: nodeName,
      tube: (t) => t.name,
    },
    {
      col: 'status',
      cls: 'status',
      fields: ['up', 'reachable', 'error', 'kind', 'owner', 'stray'],
      node: nodeStatus,
      tube: tubeOwner,
    },
    { col: 'urgent', fields: ['urgent'] },
    { col: 'ready', fields: ['ready'] },
    { col: 'reserved', fields: ['reserved'] },
    { col: 'delayed', fields: ['delayed'] },
    { col: 'buried', fields: ['buried'] },
    {
      col: 'putPerSec',
      fields: ['putPerSec'],
      node: (r) => rate(r.putPerSec),
      tube: (r) => rate(r.putPerSec),
    },
    {
      col: 'reservePerSec',
      fields: ['reservePerSec'],
      node: (r) => rate(r.reservePerSec),
      tube: (r) => rate(r.reservePerSec),
    },
    { col: 'waiting', fields: ['waiting'] },
    {
      col: 'clients',
      fields: ['connections', 'watching'],
      node: (n) => String(n.connections),
      tube: (t) => String(t.watching),
    },
    {
      col: 'paused',
      fields: ['pauseLeftSecs', 'draining'],
      node: (n) => (n.draining ? 'draining' : ''),
      tube: (t) => (t.pauseLeftSecs > 0 ? `${t.pauseLeftSecs} s` : ''),
    },
  ];

  const state = {
    nodes: new Map(), // key → row data
    tubes: new Map(),
    rowsEl: new Map(), // key → { tr, cells: Map(col → td) }
    selected: null, // tube name
    peeked: null, // { id, state }
    admin: false,
    ws: null,
    nextId: 1,
    pending: new Map(), // request id → { resolve, onProgress }
    retryMs: 500,
  };

  function rate(v) {
    return v === null || v === undefined ? '–' : v.toFixed(1);
  }

  function nodeName(n) {
    return n.name;
  }

  function nodeStatus(n) {
    if (!n.up) return 'down';
    if (!n.reachable) return `unreachable: ${n.error}`;
    return `up · ${n.kind}`;
  }

  function nodeLabel(index) {
    const n = state.nodes.get(`n${index}`);
    return n ? n.name : `#${index}`;
  }

  function tubeOwner(t) {
    return t.stray ? `stray (owner ${nodeLabel(t.owner)})` : nodeLabel(t.owner);
  }

  function cellText(column, row, isNode) {
    const render = isNode ? column.node : column.tube;
    if (render) return render(row);
    const v = row[column.fields[0]];
    return v === undefined || v === null ? '' : String(v);
  }

  // ---- table ----------------------------------------------------------------------------------

  function makeRow(row, isNode) {
    const tr = document.createElement('tr');
    tr.className = isNode ? 'node' : 'tube';
    tr.dataset.key = row.key;
    const cells = new Map();
    for (const column of COLUMNS) {
      const td = document.createElement('td');
      td.dataset.col = column.col;
      if (column.cls) td.classList.add(column.cls);
      cells.set(column.col, td);
      tr.appendChild(td);
    }
    if (isNode) {
      // name, address, then (shards with replicas) the members with role and lag, the last failover
      const small = () => document.createElement('small');
      const members = small();
      members.className = 'members';
      const failover = small();
      failover.className = 'failover';
      cells.get('name').append(document.createTextNode(''), small(), members, failover);
    } else {
      tr.addEventListener('click', () => selectTube(state.tubes.get(row.key).name));
    }
    const entry = { tr, cells, isNode };
    state.rowsEl.set(row.key, entry);
    return entry;
  }

  function setCell(entry, column, row, flash) {
    const td = entry.cells.get(column.col);
    if (entry.isNode && column.col === 'name') {
      const [name, address, members, failover] = td.childNodes;
      name.textContent = row.name;
      address.textContent = row.address;
      members.textContent = row.members || '';
      if (failover.textContent !== (row.failover || '')) {
        failover.textContent = row.failover || '';
        if (flash) {
          failover.classList.remove('changed');
          void failover.offsetWidth; // restart the animation
          failover.classList.add('changed');
        }
      }
      return;
    }
    const text = cellText(column, row, entry.isNode);
    if (entry.isNode && column.col === 'status') {
      td.textContent = '';
      const badge = document.createElement('span');
      badge.className = `badge ${row.up && row.reachable ? 'up' : 'down'}`;
      badge.textContent = text;
      td.appendChild(badge);
    } else if (td.textContent !== text) {
      td.textContent = text;
    } else {
      return;
    }
    if (flash) {
      td.classList.remove('changed');
      void td.offsetWidth; // restart the animation
      td.classList.add('changed');
    }
  }

  function renderRow(row, isNode, changedFields, flash) {
    const entry = state.rowsEl.get(row.key) || makeRow(row, isNode);
    for (const column of COLUMNS) {
      if (changedFields && !column.fields.some((f) => changedFields.has(f))) continue;
      setCell(entry, column, row, flash);
    }
    entry.tr.classList.toggle('down', isNode && !(row.up && row.reachable));
    // A shard whose primary is failing right now, and one without an in-sync standby to promote.
    entry.tr.classList.toggle('failing', isNode && row.failing === true);
    entry.tr.classList.toggle('no-standby', isNode && row.inSyncStandbys === 0);
    if (!isNode) {
      entry.tr.classList.toggle('stray', row.stray);
      entry.tr.classList.toggle('paused', row.pauseLeftSecs > 0);
      entry.tr.setAttribute('aria-selected', String(row.name === state.selected));
    }
  }

  /** Nodes by index, each followed by its tubes by name; rows are moved, not rebuilt. */
  function order() {
    const body = $('rows');
    const nodes = [...state.nodes.values()].sort((a, b) => a.index - b.index);
    const tubes = [...state.tubes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let at = null;
    const place = (key) => {
      const tr = state.rowsEl.get(key).tr;
      const next = at ? at.nextSibling : body.firstChild;
      if (next !== tr) body.insertBefore(tr, next);
      at = tr;
    };
    for (const n of nodes) {
      place(n.key);
      for (const t of tubes) if (t.node === n.index) place(t.key);
    }
    applyFilter();
  }

  function applyFilter() {
    const text = $('filter').value.trim().toLowerCase();
    for (const t of state.tubes.values()) {
      state.rowsEl.get(t.key).tr.hidden = text !== '' && !t.name.toLowerCase().includes(text);
    }
  }

  function removeRow(map, key) {
    map.delete(key);
    const entry = state.rowsEl.get(key);
    if (entry) entry.tr.remove();
    state.rowsEl.delete(key);
  }

  function showMeta(seq, atMs, notShown) {
    const updated = $('updated');
    updated.dataset.seq = String(seq);
    updated.textContent = `updated ${new Date(atMs).toLocaleTimeString()}`;
    const p = $('not-shown');
    p.hidden = notShown === 0;
    p.textContent = notShown ? `${notShown} more tubes not shown (per-node cap)` : '';
  }

  function applySnapshot(s) {
    for (const entry of state.rowsEl.values()) entry.tr.remove();
    state.rowsEl.clear();
    state.nodes = new Map(s.nodes.map((n) => [n.key, n]));
    state.tubes = new Map(s.tubes.map((t) => [t.key, t]));
    for (const n of s.nodes) renderRow(n, true, null, false);
    for (const t of s.tubes) renderRow(t, false, null, false);
    order();
    renderBalance();
    showMeta(s.seq, s.atMs, s.tubesNotShown);
  }

  /** The balance panel (balance.js) and the nodes a tube can be moved to. */
  function renderBalance() {
    const nodes = [...state.nodes.values()].sort((a, b) => a.index - b.index);
    window.stalkdBalance.render($('balance-rows'), nodes);
    const select = $('move-node');
    const names = nodes.map((n) => n.name);
    if ([...select.options].map((o) => o.value).join('\n') === names.join('\n')) return;
    const chosen = select.value;
    select.textContent = '';
    for (const name of names) select.appendChild(new Option(name, name, false, name === chosen));
  }

  function applyChanges(map, changes, isNode) {
    for (const key of changes.remove) removeRow(map, key);
    for (const patch of changes.upsert) {
      const prev = map.get(patch.key);
      const row = Object.assign({}, prev, patch);
      map.set(patch.key, row);
      renderRow(row, isNode, prev ? new Set(Object.keys(patch)) : null, Boolean(prev));
    }
  }

  function applyDiff(d) {
    applyChanges(state.nodes, d.nodes, true);
    applyChanges(state.tubes, d.tubes, false);
    // Owner names shown in tube rows depend on node names.
    if (d.nodes.upsert.some((n) => 'name' in n))
      for (const t of state.tubes.values()) renderRow(t, false, new Set(['owner']), false);
    order();
    if (d.nodes.upsert.length || d.nodes.remove.length) renderBalance();
    showMeta(d.seq, d.atMs, d.tubesNotShown);
  }

  // ---- connection -----------------------------------------------------------------------------

  function setConn(text, st) {
    const el = $('conn');
    el.textContent = text;
    el.dataset.state = st;
  }

  function connect() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/dashboard/ws`;
    const ws = new WebSocket(url);
    state.ws = ws;
    setConn('connecting…', 'connecting');
    ws.onopen = () => {
      state.retryMs = 500;
      setConn('live', 'open');
    };
    ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
    ws.onclose = () => {
      setConn('disconnected, retrying…', 'closed');
      for (const p of state.pending.values())
        p.resolve({ ok: false, code: 'FAILED', error: 'connection lost' });
      state.pending.clear();
      setTimeout(connect, state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, 10000);
    };
  }

  function onMessage(msg) {
    switch (msg.type) {
      case 'hello':
        state.admin = msg.admin;
        $('admin-state').textContent = [
          msg.peek ? '' : 'peeks disabled on this server (no token configured)',
          msg.admin ? '' : 'admin actions disabled on this server',
        ]
          .filter(Boolean)
          .join('; ');
        for (const b of document.querySelectorAll('.admin button')) b.disabled = !msg.admin;
        for (const b of document.querySelectorAll('[data-peek]')) b.disabled = !msg.peek;
        $('move').disabled = !msg.move;
        if (msg.admin && !msg.move)
          $('move').title = 'moving a tube needs the proxy started with --topology FILE';
        break;
      case 'snapshot':
        applySnapshot(msg.snapshot);
        break;
      case 'diff':
        applyDiff(msg.diff);
        break;
      case 'progress': {
        const p = state.pending.get(msg.id);
        if (p?.onProgress) p.onProgress(msg);
        break;
      }
      case 'reply': {
        const p = state.pending.get(msg.id);
        state.pending.delete(msg.id);
        if (p) p.resolve(msg);
        break;
      }
    }
  }

  function request(body, onProgress) {
    return new Promise((resolve) => {
      if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
        resolve({ ok: false, code: 'FAILED', error: 'not connected' });
        return;
      }
      const id = state.nextId++;
      state.pending.set(id, { resolve, onProgress });
      state.ws.send(JSON.stringify(Object.assign({ id }, body)));
    });
  }

  // Peeks and admin actions carry the token typed in the header (read or admin token).
  function adminRequest(body, onProgress) {
    return request(Object.assign({ token: $('token').value }, body), onProgress);
  }

  // ---- drill-down and actions -----------------------------------------------------------------

  function selectTube(name) {
    state.selected = name;
    state.peeked = null;
    $('detail').hidden = false;
    $('detail-tube').textContent = name;
    $('job').hidden = true;
    $('job-none').hidden = true;
    showResult('', '');
    for (const t of state.tubes.values())
      state.rowsEl.get(t.key).tr.setAttribute('aria-selected', String(t.name === name));
  }

  function showResult(text, ok) {
    const el = $('result');
    el.textContent = text;
    el.dataset.ok = ok;
  }

  function report(reply, describe) {
    if (reply.ok) showResult(describe(reply.result), 'true');
    else {
      const refused =
        reply.code === 'FORBIDDEN' || reply.code === 'READ_ONLY' || reply.code === 'BAD_REQUEST';
      showResult(`${refused ? 'refused' : 'failed'}: ${reply.error}`, 'false');
    }
    return reply.ok;
  }

  async function peek(which) {
    const tube = state.selected;
    const reply = await adminRequest({ op: 'peek', tube, state: which });
    if (!report(reply, () => '')) return;
    const job = reply.result.job;
    $('job').hidden = !job;
    $('job-none').hidden = Boolean(job);
    if (!job) {
      state.peeked = null;
      $('job-none').textContent = `no ${which} job in ${tube}`;
      return;
    }
    state.peeked = { id: job.id, state: which };
    const s = job.stats;
    const facts = [`job ${job.id}`, `${job.body.bytes} bytes`];
    if (s)
      facts.push(
        `state ${s.state}`,
        `pri ${s.pri}`,
        `age ${s.age} s`,
        `ttr ${s.ttr} s`,
        `reserves ${s.reserves}`,
        `releases ${s.releases}`,
        `buries ${s.buries}`,
        `kicks ${s.kicks}`,
      );
    $('job-meta').textContent = facts.join(' · ');
    const pre = $('job-body');
    pre.textContent = job.body.content;
    pre.classList.toggle('hex', job.body.encoding === 'hex');
    const notes = [];
    if (job.body.encoding === 'hex') notes.push('binary body, shown as hex');
    if (job.body.truncated) notes.push(`showing the first ${job.body.shownBytes} of ${job.body.bytes} bytes`);
    $('job-note').textContent = notes.join('; ');
  }

  async function withTube(fn) {
    if (state.selected) await fn(state.selected);
  }

  function wire() {
    for (const b of document.querySelectorAll('[data-peek]'))
      b.addEventListener('click', () => peek(b.dataset.peek));
    $('filter').addEventListener('input', applyFilter);
    const token = $('token');
    token.value = sessionStorage.getItem(TOKEN_KEY) || '';
    token.addEventListener('input', () => sessionStorage.setItem(TOKEN_KEY, token.value));

    $('kick').addEventListener('click', () =>
      withTube(async (tube) => {
        const reply = await adminRequest({ op: 'kick', tube, bound: Number($('kick-bound').value) || 1 });
        report(reply, (r) => `kicked ${r.kicked} job(s) in ${tube}`);
      }),
    );
    $('pause').addEventListener('click', () =>
      withTube(async (tube) => {
        const delaySecs = Number($('pause-secs').value) || 0;
        report(
          await adminRequest({ op: 'pause', tube, delaySecs }),
          () => `paused ${tube} for ${delaySecs} s`,
        );
      }),
    );
    $('unpause').addEventListener('click', () =>
      withTube(async (tube) =>
        report(await adminRequest({ op: 'pause', tube, delaySecs: 0 }), () => `unpaused ${tube}`),
      ),
    );
    $('clear').addEventListener('click', () =>
      withTube(async (tube) => {
        if (!confirm(`Delete every ready, delayed and buried job in "${tube}"?`)) return;
        const bar = $('clear-progress');
        bar.hidden = false;
        bar.value = 0;
        const reply = await adminRequest({ op: 'clear', tube }, (p) => {
          bar.max = Math.max(p.total, 1);
          bar.value = p.deleted;
        });
        bar.hidden = true;
        report(
          reply,
          (r) =>
            `cleared ${r.deleted} job(s) from ${tube}${r.reservedLeft ? `; ${r.reservedLeft} reserved job(s) left` : ''}`,
        );
      }),
    );
    $('move').addEventListener('click', () =>
      withTube(async (tube) => {
        const node = $('move-node').value;
        const bar = $('move-progress');
        bar.hidden = false;
        bar.value = 0;
        showResult(`moving ${tube} to ${node}…`, '');
        const reply = await adminRequest({ op: 'move-tube', tube, node }, (p) => {
          bar.max = Math.max(p.total, 1);
          bar.value = p.moved;
        });
        bar.hidden = true;
        report(reply, (r) => {
          const facts = [`moved ${r.moved} job(s) of ${tube} to ${node}`];
          facts.push(r.pinned ? 'pinned in the topology' : 'already pinned there');
          if (r.reservedLeft) facts.push(`${r.reservedLeft} reserved job(s) wait for their workers`);
          if (r.left) facts.push('jobs left elsewhere: run stalkd migrate');
          return facts.join('; ');
        });
      }),
    );
    $('job-delete').addEventListener('click', async () => {
      if (!state.peeked) return;
      const id = state.peeked.id;
      if (report(await adminRequest({ op: 'delete', jobId: id }), () => `deleted job ${id}`))
        $('job').hidden = true;
    });
    $('job-kick').addEventListener('click', async () => {
      if (!state.peeked) return;
      const id = state.peeked.id;
      report(await adminRequest({ op: 'kick-job', jobId: id }), () => `kicked job ${id}`);
    });
  }

  wire();
  connect();
})();
