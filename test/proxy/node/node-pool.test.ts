/**
 * The node pool's health handling against hand-made nodes: each kind of failure is reported with
 * its own kind (the backend-errors metric's label), and a node that is down is re-probed after
 * backoffMinMs, then at doubling delays up to backoffMaxMs (checked with injected timers).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import type { Timers } from '../../../src/net/timers';
import type { BackendFailure } from '../../../src/proxy/node/backend';
import { defaultPoolOptions, NodeLink, type PoolOptions } from '../../../src/proxy/node/node-pool';
import { freePort } from '../../support/cli-process';

/** A node whose behaviour on each connection is `onSocket`. */
async function fakeNode(onSocket: (socket: Socket) => void): Promise<{ port: number; server: Server }> {
  const server = createServer(onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, server };
}

/** The kind of the first backend error a link to `port` reports. */
async function firstFailureKind(port: number, options: Partial<PoolOptions> = {}): Promise<BackendFailure> {
  let link: NodeLink | undefined;
  const kind = new Promise<BackendFailure>((resolve) => {
    link = new NodeLink(
      { index: 0, name: 'n0', host: '127.0.0.1', port },
      { ...defaultPoolOptions, nodeTimeoutMs: 200, ...options },
      { backendError: (_node, k) => resolve(k), backendReconnect: () => {} },
    );
  });
  try {
    return await kind;
  } finally {
    link?.close();
  }
}

describe('node pool: failure kinds', () => {
  test('node pool: a refused connection is a connect error', async () => {
    assert.equal(await firstFailureKind(await freePort()), 'connect');
  });

  test('node pool: a node that closes an open connection is closed, not connect', async () => {
    const node = await fakeNode((socket) => socket.once('data', () => socket.destroy()));
    try {
      assert.equal(await firstFailureKind(node.port), 'closed');
    } finally {
      node.server.close();
    }
  });

  test('node pool: a reply that is not a beanstalkd reply is a protocol error', async () => {
    const node = await fakeNode((socket) => socket.once('data', () => socket.write('x'.repeat(4096))));
    try {
      assert.equal(await firstFailureKind(node.port), 'protocol');
    } finally {
      node.server.close();
    }
  });

  test('node pool: a reply nobody asked for is a protocol error', async () => {
    const node = await fakeNode((socket) =>
      socket.once('data', () => socket.write('OK stalkd 0\r\nDELETED\r\n')),
    );
    try {
      assert.equal(await firstFailureKind(node.port), 'protocol');
    } finally {
      node.server.close();
    }
  });

  test('node pool: a node that accepts but never answers is a timeout', async () => {
    const node = await fakeNode(() => {});
    try {
      assert.equal(await firstFailureKind(node.port, { nodeTimeoutMs: 100 }), 'timeout');
    } finally {
      node.server.close();
    }
  });
});

/** Timers that only record: a test fires them itself. */
class ManualTimers implements Timers {
  readonly pending = new Map<number, { fn: () => void; delayMs: number }>();
  private nextHandle = 1;
  private onSet: (() => void) | null = null;

  set(fn: () => void, delayMs: number): unknown {
    const handle = this.nextHandle++;
    this.pending.set(handle, { fn, delayMs });
    this.onSet?.();
    return handle;
  }

  clear(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** The one timer pending now. */
  single(): { handle: number; delayMs: number; fn: () => void } {
    assert.equal(this.pending.size, 1, 'exactly one probe is scheduled');
    const [handle, timer] = [...this.pending][0] as [number, { fn: () => void; delayMs: number }];
    return { handle, ...timer };
  }

  /** Fires the pending timer and resolves once the next one is set. */
  async fireAndAwaitNext(): Promise<number> {
    const { handle, fn } = this.single();
    this.pending.delete(handle);
    const set = new Promise<void>((resolve) => {
      this.onSet = resolve;
    });
    fn();
    await set;
    this.onSet = null;
    return this.single().delayMs;
  }
}

test('node pool: after a failed probe the first re-probe comes at backoffMinMs, then doubles up to backoffMaxMs', async () => {
  const timers = new ManualTimers();
  const link = new NodeLink(
    { index: 0, name: 'n0', host: '127.0.0.1', port: await freePort() },
    { ...defaultPoolOptions, backoffMinMs: 100, backoffMaxMs: 1000, timers },
  );
  try {
    await link.firstProbe;
    assert.equal(link.up, false);
    const delays = [timers.single().delayMs];
    for (let i = 0; i < 5; i++) delays.push(await timers.fireAndAwaitNext());
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  } finally {
    link.close();
  }
});
