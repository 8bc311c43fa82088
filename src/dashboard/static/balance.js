// stalkd dashboard, balance panel: each node's share of the cluster's puts, reserves (over the
// history window) and jobs (now) as a bar, and a sparkline of its put and reserve rates over the
// window (counts per bucket from the server: src/dashboard/node-history.ts). Loaded before
// dashboard.js, which calls render() after every snapshot or diff. Strings reach the page through
// textContent; sizes through the CSSOM (style.width), which the page's CSP allows.
'use strict';

(() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const SPARK_WIDTH = 120;
  const SPARK_HEIGHT = 24;

  const COLUMNS = [
    { col: 'putShare', kind: 'bar', title: 'share of the jobs put in the window' },
    { col: 'reserveShare', kind: 'bar', title: 'share of the jobs taken in the window' },
    { col: 'jobShare', kind: 'bar', title: 'share of the jobs held now' },
    { col: 'putHistory', kind: 'spark', title: 'jobs put per second' },
    { col: 'reserveHistory', kind: 'spark', title: 'jobs taken per second' },
  ];

  function percent(share) {
    return share === null || share === undefined ? '–' : `${share} %`;
  }

  function makeRow(node) {
    const tr = document.createElement('tr');
    tr.dataset.node = node.key;
    const name = document.createElement('td');
    name.className = 'name';
    name.dataset.col = 'name';
    tr.appendChild(name);
    for (const column of COLUMNS) {
      const td = document.createElement('td');
      td.dataset.col = column.col;
      if (column.kind === 'bar') {
        const share = document.createElement('div');
        share.className = 'share';
        const fill = document.createElement('div');
        fill.className = 'fill';
        const value = document.createElement('span');
        share.append(fill, value);
        td.appendChild(share);
      } else {
        const svg = document.createElementNS(SVG, 'svg');
        svg.setAttribute('viewBox', `0 0 ${SPARK_WIDTH} ${SPARK_HEIGHT}`);
        svg.setAttribute('class', 'spark');
        svg.appendChild(document.createElementNS(SVG, 'polyline'));
        const peak = document.createElement('span');
        peak.className = 'peak';
        td.append(svg, peak);
      }
      tr.appendChild(td);
    }
    return tr;
  }

  function setBar(td, share, title) {
    td.dataset.share = share === null || share === undefined ? '' : String(share);
    const [fill, value] = td.firstChild.childNodes;
    fill.style.width = `${share || 0}%`;
    value.textContent = percent(share);
    td.title = title;
  }

  /** counts: jobs per bucket, oldest first; drawn as jobs per second. */
  function setSpark(td, counts, bucketMs, title) {
    const perSec = counts.map((c) => (c * 1000) / bucketMs);
    const peak = Math.max(0, ...perSec);
    const last = Math.max(counts.length - 1, 1);
    const points = perSec.map((r, i) => {
      const x = (i * SPARK_WIDTH) / last;
      const y = SPARK_HEIGHT - 1 - (peak > 0 ? (r / peak) * (SPARK_HEIGHT - 2) : 0);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    const [svg, label] = td.childNodes;
    svg.firstChild.setAttribute('points', points.join(' '));
    td.dataset.total = String(counts.reduce((a, b) => a + b, 0));
    td.dataset.points = String(counts.length);
    label.textContent = `max ${peak.toFixed(1)}/s`;
    const minutes = Math.round((counts.length * bucketMs) / 6000) / 10;
    td.title = `${title} over the last ${minutes} min (${td.dataset.total} jobs)`;
  }

  /** One row per node (sorted by the caller), rows kept across calls. */
  function render(tbody, nodes) {
    const rows = new Map([...tbody.children].map((tr) => [tr.dataset.node, tr]));
    let at = null;
    for (const node of nodes) {
      const tr = rows.get(node.key) || makeRow(node);
      rows.delete(node.key);
      const next = at ? at.nextSibling : tbody.firstChild;
      if (next !== tr) tbody.insertBefore(tr, next);
      at = tr;
      tr.firstChild.textContent = node.name;
      for (const column of COLUMNS) {
        const td = tr.querySelector(`td[data-col="${column.col}"]`);
        if (column.kind === 'bar') setBar(td, node[column.col], column.title);
        else setSpark(td, node[column.col] || [], node.historyBucketMs || 1000, column.title);
      }
    }
    for (const tr of rows.values()) tr.remove();
  }

  window.stalkdBalance = { render };
})();
