/**
 * A replicated member's families (docs/replication.md, "Metrics"), read from its x-role view at
 * scrape time. Per-standby series are named by the standby's address as its primary sees it.
 */
import type { Registry } from 'prom-client';
import { ROLES, Role, type ShardControl } from '../server/shard';
import { createCounter, createGauge, NODE, setCounter } from './families';

export function registerReplicationMetrics(registry: Registry, shard: ShardControl): void {
  const roles = ROLES.filter((r) => r !== Role.Standalone);
  createGauge(registry, NODE.replicationRole, function () {
    const role = shard.view().role;
    for (const r of roles) this.set({ role: r }, r === role ? 1 : 0);
  });
  const plain = [
    [NODE.replicationTerm, () => shard.view().term],
    [NODE.replicationSyncStandbys, () => shard.view().syncStandbys],
    [NODE.replicationInSyncStandbys, () => shard.view().inSyncStandbys],
    [NODE.replicationStandbyInSync, () => (isStandby(shard) && shard.view().inSync ? 1 : 0)],
    [NODE.replicationWaiting, () => (shard.view().waiting ? 1 : 0)],
    [NODE.replicationAlone, () => (shard.view().alone ? 1 : 0)],
  ] as const;
  for (const [spec, read] of plain)
    createGauge(registry, spec, function () {
      this.set(read());
    });
  const lag = [
    [NODE.replicationLagRecords, 'lagRecords'],
    [NODE.replicationLagBytes, 'lagBytes'],
    [NODE.replicationLagSeconds, 'lagSeconds'],
  ] as const;
  for (const [spec, key] of lag)
    createGauge(registry, spec, function () {
      this.reset();
      const v = shard.view();
      if (v.role === Role.Standby) this.set({ standby: 'self' }, v[key]);
      for (const s of v.standbys) this.set({ standby: s.address }, s[key]);
    });
  const sides = [
    [NODE.replicationCatchups, 'catchUps'],
    [NODE.replicationFullCopies, 'fullCopies'],
  ] as const;
  for (const [spec, key] of sides)
    createCounter(registry, spec, function () {
      this.reset();
      const v = shard.view()[key];
      setCounter(this, v.sent, { side: 'sent' });
      setCounter(this, v.received, { side: 'received' });
    });
}

function isStandby(shard: ShardControl): boolean {
  return shard.view().role === Role.Standby;
}
