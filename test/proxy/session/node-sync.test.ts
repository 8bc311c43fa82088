/**
 * A client's node connections kept in line with its tube state, against fake nodes that record
 * every line sent and answer only when the test says: which node gets which use/watch/ignore,
 * parking, and that a change counts as acknowledged only once every node answered.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Reply } from '../../../src/protocol/reply-parser';
import type { CountedCommand } from '../../../src/protocol/stats';
import { Placement } from '../../../src/proxy/ring';
import { Routing } from '../../../src/proxy/routing';
import { NodeSync, PARKING_TUBE } from '../../../src/proxy/session/node-sync';
import { TubeState } from '../../../src/proxy/session/tube-state';
import type { NodeChannel, NodeHandle, NodeRequest } from '../../../src/proxy/types';

/** A node connection that records lines and holds their replies until `answerAll`. */
class FakeChannel implements NodeChannel {
  state: 'connecting' | 'open' | 'closed' = 'open';
  readonly connected = Promise.resolve(true);
  readonly replyTimeoutMs = 1000;
  readonly lines: string[] = [];
  private readonly waiting: Array<(reply: Reply | null) => void> = [];

  request(head: string): Promise<Reply | null> {
    this.lines.push(head);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  send(
    head: string,
    _body: Buffer | undefined,
    _timeoutMs: number | null,
    done: (r: Reply | null) => void,
  ): void {
    void this.request(head).then(done);
  }

  submit(req: NodeRequest): void {
    this.send(req.head, req.body, req.timeoutMs, (r) => req.resolve(r));
  }

  answerAll(): void {
    for (const resolve of this.waiting.splice(0)) resolve({ word: 'OK', line: 'OK', body: undefined });
  }
}

class FakeNode implements NodeHandle {
  up = true;
  kind = 'stalkd';
  readonly channels: FakeChannel[] = [];
  readonly overhead: CountedCommand[] = [];

  constructor(readonly node: { index: number }) {}

  openBackend(): NodeChannel {
    const channel = new FakeChannel();
    this.channels.push(channel);
    return channel;
  }

  releaseBackend(channel: NodeChannel): void {
    (channel as FakeChannel).state = 'closed';
  }

  countOverhead(command: CountedCommand): void {
    this.overhead.push(command);
  }

  /** Every line sent on this node's connections. */
  get lines(): string[] {
    return this.channels.flatMap((c) => c.lines);
  }
}

/** Three nodes; tubes a, b, c (and `default`) pinned to n0, n1, n2 (and n0). */
function setup(eager = true) {
  const topology = {
    nodes: [0, 1, 2].map((index) => ({ name: `n${index}`, index, host: '127.0.0.1', port: 1, weight: 1 })),
    pins: new Map([
      ['default', 'n0'],
      ['a', 'n0'],
      ['b', 'n1'],
      ['c', 'n2'],
      ['b2', 'n1'],
    ]),
    proxy: {},
  };
  const nodes = [0, 1, 2].map((index) => new FakeNode({ index }));
  const tubes = new TubeState(new Routing(new Placement(topology)));
  let settled = 0;
  const sync = new NodeSync(tubes, { get: (i) => nodes[i] }, eager, () => settled++);
  const answerAll = (): void => {
    for (const n of nodes) for (const c of n.channels) c.answerAll();
  };
  return { nodes, tubes, sync, answerAll, settled: () => settled };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('node sync: the first request opens a connection to the owner of the used tube only', () => {
  const { nodes, sync } = setup();
  sync.start();
  assert.deepEqual(
    nodes.map((n) => n.channels.length),
    [1, 0, 0],
  );
  // n0 owns `default`: its connection parks nothing yet (the client uses and watches default).
  assert.deepEqual(nodes[0]?.lines, []);
});

test('node sync: use — the owner uses the tube, the connections elsewhere park', () => {
  const { nodes, tubes, sync } = setup();
  sync.start();
  tubes.use('b');
  sync.usedChanged();
  assert.deepEqual(nodes[1]?.lines, ['use b']);
  assert.deepEqual(nodes[0]?.lines, [`use ${PARKING_TUBE}`]);
  assert.deepEqual(nodes[1]?.overhead, ['use']);
});

test('node sync: watch — only the owner changes, by one tube; its parking tube goes and comes back', () => {
  const { nodes, tubes, sync } = setup();
  sync.start();
  tubes.watch('c');
  sync.watchChanged('c');
  // n2 is new: brought in line in full (it watches c, the client's only tube there, instead of its
  // parking tube `default`).
  assert.deepEqual(nodes[2]?.lines, ['watch c', 'ignore default']);
  assert.deepEqual(nodes[0]?.lines, [], 'n0 still watches default for the client');
  tubes.ignore('c');
  sync.watchChanged('c');
  assert.deepEqual(nodes[2]?.lines, ['watch c', 'ignore default', 'watch default', 'ignore c']);
});

test("node sync: a node left with none of the client's tubes parks (on PARKING_TUBE where default lives)", () => {
  const { nodes, tubes, sync } = setup();
  sync.start();
  tubes.watch('a');
  sync.watchChanged('a');
  tubes.ignore('default');
  sync.watchChanged('default');
  assert.deepEqual(nodes[0]?.lines, ['watch a', 'ignore default']);
  tubes.watch('b');
  sync.watchChanged('b');
  tubes.ignore('a');
  sync.watchChanged('a');
  assert.deepEqual(nodes[0]?.lines, ['watch a', 'ignore default', `watch ${PARKING_TUBE}`, 'ignore a']);
  assert.deepEqual(nodes[1]?.lines, ['watch b', 'ignore default']);
});

test('node sync: a change is pending until every node it touched answered', async () => {
  const { nodes, tubes, sync, answerAll, settled } = setup();
  sync.start();
  tubes.watch('b');
  sync.watchChanged('b');
  tubes.watch('c');
  sync.watchChanged('c');
  assert.ok(sync.pending, 'watches sent, none answered');
  for (const c of nodes[1]?.channels ?? []) c.answerAll();
  await settle();
  assert.ok(sync.pending, 'n2 has not answered yet');
  answerAll();
  await settle();
  assert.equal(sync.pending, null);
  assert.equal(settled(), 1);
});

test('node sync: syncUse before a put sends use only when the connection is out of line', () => {
  const { nodes, tubes, sync } = setup(false);
  const conn = sync.connTo(1);
  assert.ok(conn);
  const before = nodes[1]?.lines.length ?? 0;
  tubes.use('b2');
  sync.syncUse(conn);
  sync.syncUse(conn);
  assert.deepEqual(nodes[1]?.lines.slice(before), ['use b2']);
});
