import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Reply } from '../../src/protocol/reply-parser';
import { withClientId } from '../../src/proxy/id-rewrite';
import { decodeJobId, encodeJobId, MAX_NODE_JOB_ID, MAX_NODES } from '../../src/proxy/job-id';
import { controlPoints, Placement } from '../../src/proxy/ring';
import {
  expandEnvironment,
  loadTopologyFile,
  parseTopology,
  type Topology,
  TopologyError,
  topologyFromNodeList,
} from '../../src/proxy/topology';

const TUBES = Array.from({ length: 10_000 }, (_, i) => `tube-${i}`);

function topology(count: number, pins: Record<string, string> = {}): Topology {
  return parseTopology({
    nodes: Array.from({ length: count }, (_, i) => ({
      name: `node-${i}`,
      index: i,
      host: '127.0.0.1',
      port: 11301 + i,
    })),
    pins,
  });
}

function moved(from: Placement, to: Placement): number {
  return TUBES.filter((t) => from.ownerOf(t).name !== to.ownerOf(t).name).length;
}

test('ring: two proxies built from the same topology route every tube identically', () => {
  const a = new Placement(topology(3));
  // Same nodes listed in another order: placement depends on names only.
  const reversed = topology(3);
  reversed.nodes.reverse();
  const b = new Placement(reversed);
  for (const t of TUBES) assert.equal(a.ownerOf(t).name, b.ownerOf(t).name);
});

test('ring: control points are a pure function of name and weight', () => {
  assert.deepEqual(controlPoints('node-1', 1), controlPoints('node-1', 1));
  assert.equal(controlPoints('node-1', 1).length, 160);
  assert.equal(controlPoints('node-1', 2).length, 320);
  assert.notDeepEqual(controlPoints('node-1', 1), controlPoints('node-2', 1));
});

test('ring: adding a 4th node to 3 moves at most 1.3 × 1/4 of 10,000 tubes, all to the new node', () => {
  const three = new Placement(topology(3));
  const four = new Placement(topology(4));
  const n = moved(three, four);
  console.log(
    `ring: 3 → 4 nodes moved ${n} of ${TUBES.length} tubes (${(n / TUBES.length).toFixed(4)}; ideal 0.25)`,
  );
  assert.ok(n <= 0.325 * TUBES.length, `${n} tubes moved`);
  for (const t of TUBES) {
    const before = three.ownerOf(t).name;
    const after = four.ownerOf(t).name;
    assert.ok(before === after || after === 'node-3', `${t} moved ${before} → ${after}`);
  }
});

test('ring: balance over 3 nodes stays within 20% of the mean', () => {
  const p = new Placement(topology(3));
  const counts = new Map<string, number>();
  for (const t of TUBES) counts.set(p.ownerOf(t).name, (counts.get(p.ownerOf(t).name) ?? 0) + 1);
  const mean = TUBES.length / 3;
  console.log(`ring: 3-node split ${[...counts.values()].join('/')}`);
  for (const c of counts.values())
    assert.ok(Math.abs(c - mean) / mean < 0.2, `unbalanced: ${[...counts.values()]}`);
});

test('ring: weights shift the share of tubes', () => {
  const t = topology(2);
  (t.nodes[1] as { weight: number }).weight = 3;
  const p = new Placement(t);
  const onHeavy = TUBES.filter((x) => p.ownerOf(x).name === 'node-1').length;
  assert.ok(onHeavy > 0.65 * TUBES.length && onHeavy < 0.85 * TUBES.length, `${onHeavy}`);
});

test('ring: pins override the ring, explain() says so', () => {
  const free = new Placement(topology(3));
  const ringOwner = free.ownerOf('emails').name;
  const target = ringOwner === 'node-0' ? 'node-1' : 'node-0';
  const pinned = new Placement(topology(3, { emails: target }));
  assert.equal(pinned.ownerOf('emails').name, target);
  assert.deepEqual(pinned.explain('emails'), { node: pinned.ownerOf('emails'), pinned: true });
  assert.equal(pinned.explain('other').pinned, false);
});

test('job-id: round trip, node index in the low bits, below 2^53', () => {
  for (const [index, nodeId] of [
    [0, 1],
    [2, 1],
    [63, 7],
    [5, MAX_NODE_JOB_ID],
  ] as const) {
    const id = encodeJobId(index, nodeId);
    assert.ok(id !== null && Number.isSafeInteger(id));
    assert.deepEqual(decodeJobId(id as number), { nodeIndex: index, nodeId });
  }
  assert.equal(encodeJobId(0, 1), 1);
  assert.equal(encodeJobId(1, 1), 2);
  assert.equal(encodeJobId(0, 2), MAX_NODES + 1);
  assert.equal(encodeJobId(0, MAX_NODE_JOB_ID + 1), null);
  assert.equal(decodeJobId(0), null);
  assert.equal(decodeJobId(-1), null);
  assert.equal(decodeJobId(2 ** 53), null);
  assert.equal(encodeJobId(0, Number.NaN), null);
  assert.equal(encodeJobId(0, 1.5), null);
});

test('replies: node ids become client ids in every reply that carries one, the rest pass through', () => {
  const text = (parts: Buffer | readonly Buffer[] | null): string =>
    Buffer.concat(parts === null ? [] : Buffer.isBuffer(parts) ? [parts] : [...parts]).toString('latin1');
  const data = Buffer.from('body');
  const reply = (line: string, body?: Buffer): Reply => ({ word: line.split(' ')[0] as string, line, body });
  assert.equal(text(withClientId(reply('INSERTED 3'), 2)), `INSERTED ${encodeJobId(2, 3)}\r\n`);
  assert.equal(text(withClientId(reply('BURIED 1'), 0)), 'BURIED 1\r\n');
  assert.equal(
    text(withClientId(reply('RESERVED 7 4 100', data), 1)),
    `RESERVED ${encodeJobId(1, 7)} 4\r\nbody\r\n`,
    'the stalkd pri is dropped',
  );
  assert.equal(
    text(withClientId(reply('RESERVED 7 4', data), 1)),
    `RESERVED ${encodeJobId(1, 7)} 4\r\nbody\r\n`,
  );
  assert.equal(text(withClientId(reply('FOUND 9 4', data), 63)), `FOUND ${encodeJobId(63, 9)} 4\r\nbody\r\n`);
  for (const line of ['DELETED', 'NOT_FOUND', 'KICKED 3', 'USING b0', 'TIMED_OUT'])
    assert.equal(text(withClientId(reply(line), 1)), `${line}\r\n`);
  assert.equal(text(withClientId(reply('OK 4', data), 1)), 'OK 4\r\nbody\r\n');
  assert.equal(withClientId(reply(`INSERTED ${MAX_NODE_JOB_ID + 1}`), 0), null);
  assert.equal(withClientId(reply('INSERTED x'), 0), null);
  // Ids are read as plain decimal digits (Number() took '0x10' for 16 and '1e3' for 1000).
  for (const id of ['0x10', '1e3', ' 5', '+5'])
    assert.equal(withClientId(reply(`INSERTED ${id}`), 0), null, id);
  assert.equal(text(withClientId(reply('INSERTED 0012'), 0)), `INSERTED ${encodeJobId(0, 12)}\r\n`);
});

test('topology: --nodes list and file load, errors name the problem', () => {
  const t = topologyFromNodeList('127.0.0.1:11301,b=10.0.0.2:11302,[::1]:11303');
  assert.deepEqual(
    t.nodes.map((n) => [n.name, n.index, n.host, n.port]),
    [
      ['node-0', 0, '127.0.0.1', 11301],
      ['b', 1, '10.0.0.2', 11302],
      ['node-2', 2, '::1', 11303],
    ],
  );
  const dir = mkdtempSync(join(tmpdir(), 'topology-'));
  const file = join(dir, 't.json');
  writeFileSync(
    file,
    JSON.stringify({ nodes: [{ name: 'a', index: 3, host: 'h', port: 1 }], pins: { x: 'a' } }),
  );
  const loaded = loadTopologyFile(file);
  assert.equal(loaded.nodes[0]?.index, 3);
  assert.equal(loaded.pins.get('x'), 'a');
  const bad: Array<[unknown, RegExp]> = [
    [{ nodes: [] }, /non-empty/],
    [{ nodes: [{ name: 'a', index: 64, host: 'h', port: 1 }] }, /index/],
    [{ nodes: [{ name: 'a', index: 0, host: 'h', port: 1, wieght: 2 }] }, /unknown key "wieght"/],
    [
      {
        nodes: [
          { name: 'a', index: 0, host: 'h', port: 1 },
          { name: 'a', index: 1, host: 'h', port: 2 },
        ],
      },
      /duplicate/,
    ],
    [{ nodes: [{ name: 'a', index: 0, host: 'h', port: 1 }], pins: { x: 'zz' } }, /unknown node/],
  ];
  for (const [doc, message] of bad) {
    assert.throws(
      () => parseTopology(doc),
      (err: unknown) => err instanceof TopologyError && message.test(err.message),
    );
  }
});

test('topology: an environment reference in a file is the variable, JSON-escaped; unset is an error', () => {
  const ref = (name: string) => `$\{${name}}`;
  const text = `{"nodes": [{"name": "${ref('SET')}-0", "index": 0, "host": "${ref('SET')}-0.${ref('SVC')}", "port": 1}]}`;
  const env = { SET: 'staging-stalkd-node', SVC: 'a"b\\c' };
  const expanded = JSON.parse(expandEnvironment(text, 't.json', env));
  assert.equal(expanded.nodes[0].name, 'staging-stalkd-node-0');
  assert.equal(expanded.nodes[0].host, 'staging-stalkd-node-0.a"b\\c', 'a value cannot break the JSON');
  assert.throws(
    () => expandEnvironment(text, 't.json', { SET: 'x' }),
    (err: unknown) => err instanceof TopologyError && /t\.json: \$\{SVC\} is not set/.test(err.message),
  );
  const dir = mkdtempSync(join(tmpdir(), 'topology-'));
  const file = join(dir, 't.json');
  writeFileSync(file, text.replaceAll(ref('SVC'), 'svc'));
  process.env.SET = 'from-env';
  try {
    assert.equal(loadTopologyFile(file).nodes[0]?.host, 'from-env-0.svc', 'files are expanded on load');
  } finally {
    delete process.env.SET;
  }
});

test('topology: the example files in cluster/ load', () => {
  const dir = join(__dirname, '..', '..', '..', 'cluster', 'examples');
  for (const name of ['local-3.json', 'pinned-4.json']) {
    const t = loadTopologyFile(join(dir, name));
    assert.ok(t.nodes.length >= 3);
    new Placement(t).ownerOf('default');
  }
});
