/** Families every stalkd process exports: build info and prom-client's process/nodejs metrics. */
import { totalmem } from 'node:os';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { STALKD_VERSION } from '../version';
import { COMMON, createGauge, METRIC_PREFIX } from './families';

export type Component = 'node' | 'proxy';

/**
 * A fresh registry (never prom-client's global one, so several nodes can live in one test process)
 * with build info and the default metrics under our prefix: `stalkd_process_cpu_seconds_total`,
 * `stalkd_process_resident_memory_bytes`, `stalkd_nodejs_eventloop_lag_p99_seconds`,
 * `stalkd_nodejs_gc_duration_seconds`, `stalkd_nodejs_heap_size_used_bytes` …
 */
export function createRegistry(component: Component): Registry {
  const registry = new Registry();
  collectDefaultMetrics({
    register: registry,
    prefix: METRIC_PREFIX,
    // 10 ms is prom-client's default resolution; lag under that is not what we alert on.
    eventLoopMonitoringPrecision: 10,
  });
  const info = createGauge(registry, COMMON.buildInfo);
  info.set({ version: STALKD_VERSION, node_version: process.version, component }, 1);
  createGauge(registry, COMMON.memoryLimit, function () {
    this.set(memoryLimitBytes());
  });
  return registry;
}

/**
 * The cgroup memory limit (libuv reads cgroup v1 and v2) when one is set below the machine's
 * memory, else the machine's memory: unconstrained, libuv answers 2^64 or 0.
 */
export function memoryLimitBytes(): number {
  const machine = totalmem();
  const constrained = process.constrainedMemory();
  return constrained > 0 && constrained < machine ? constrained : machine;
}

/**
 * One snapshot shared by several families of one scrape (e.g. the capped tube selection): the
 * family collected first calls `refresh()`, the others `current()`. Registries collect families in
 * registration order, so register the refreshing family first. `current()` recomputes when the
 * snapshot is older than `maxAgeMs` (a lone family read outside a full scrape never sees old data).
 */
export function scrapeSnapshot<T>(compute: () => T, maxAgeMs = 1000): { refresh(): T; current(): T } {
  let value: T | undefined;
  let takenAtMs = Number.NEGATIVE_INFINITY;
  const refresh = (): T => {
    value = compute();
    takenAtMs = performance.now();
    return value;
  };
  return {
    refresh,
    current: () => (value !== undefined && performance.now() - takenAtMs <= maxAgeMs ? value : refresh()),
  };
}
