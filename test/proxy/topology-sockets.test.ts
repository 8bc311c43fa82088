/**
 * Topology: a node reached by its Unix socket is `"host": "unix:PATH"` with no port (the same
 * spelling as `-l unix:PATH`), in a file and in `--nodes`; a port beside it, an empty or too long
 * path are refused with the node's position named.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTopology, topologyFromNodeList } from '../../src/proxy/topology';

const node = (fields: Record<string, unknown>) => ({ nodes: [{ name: 'a', index: 0, ...fields }] });

test('topology: unix:PATH hosts take no port', () => {
  const t = parseTopology(node({ host: 'unix:/run/stalkd/a.sock' }));
  assert.deepEqual(t.nodes[0], { name: 'a', index: 0, host: 'unix:/run/stalkd/a.sock', port: 0, weight: 1 });
  assert.throws(
    () => parseTopology(node({ host: 'unix:/run/a.sock', port: 11300 }), 'f.json'),
    /^TopologyError: f\.json: nodes\[0\]\.port must not be given with a unix: host$/,
  );
  assert.throws(
    () => parseTopology(node({ host: 'unix:' })),
    /nodes\[0\]\.host: the socket path after unix: is empty/,
  );
  assert.throws(
    () => parseTopology(node({ host: `unix:/${'s'.repeat(107)}` })),
    /nodes\[0\]\.host: socket path \/s+ is too long \(108 bytes; at most 107\)/,
  );
  assert.throws(() => parseTopology(node({ host: 'localhost' })), /nodes\[0\]\.port must be a port number/);
});

test('topology: --nodes mixes HOST:PORT and unix:PATH, named or not', () => {
  const t = topologyFromNodeList('127.0.0.1:11301,b=unix:/tmp/b.sock,unix:/tmp/c.sock');
  assert.deepEqual(
    t.nodes.map((n) => [n.name, n.index, n.host, n.port]),
    [
      ['node-0', 0, '127.0.0.1', 11301],
      ['b', 1, 'unix:/tmp/b.sock', 0],
      ['node-2', 2, 'unix:/tmp/c.sock', 0],
    ],
  );
});
