/**
 * One frame of `stalkd top`: a summary of the server (the endpoint's own `stats`: a node's, or the
 * proxy's merged figures) and a table of tubes, cut to the terminal's width and height.
 */
import type { NodeRow, Snapshot, TubeRow } from '../../dashboard/snapshot';
import { formatTable, safeText, type TableColumn } from './output';

export const TOP_SORT_KEYS = [
  'name',
  'ready',
  'reserved',
  'delayed',
  'buried',
  'put',
  'reserve',
  'waiting',
] as const;
export type TopSortKey = (typeof TOP_SORT_KEYS)[number];

export interface TopFrameOptions {
  endpoint: string;
  sort: TopSortKey;
  /** Terminal size; Infinity = no cut. */
  columns: number;
  rows: number;
  live: boolean;
}

const rate = (v: number | null): string => (v === null ? '-' : v.toFixed(1));

const COLUMNS: ReadonlyArray<TableColumn<TubeRow>> = [
  { title: 'TUBE', value: (t) => t.name },
  { title: 'READY', value: (t) => String(t.ready), right: true },
  { title: 'RESERVED', value: (t) => String(t.reserved), right: true },
  { title: 'DELAYED', value: (t) => String(t.delayed), right: true },
  { title: 'BURIED', value: (t) => String(t.buried), right: true },
  { title: 'URGENT', value: (t) => String(t.urgent), right: true },
  { title: 'PUT/S', value: (t) => rate(t.putPerSec), right: true },
  { title: 'RSV/S~', value: (t) => rate(t.reservePerSec), right: true },
  { title: 'WAITING', value: (t) => String(t.waiting), right: true },
  { title: 'WATCHING', value: (t) => String(t.watching), right: true },
  { title: 'PAUSED', value: (t) => (t.pauseLeftSecs > 0 ? `${t.pauseLeftSecs}s` : '-'), right: true },
];

const SORTERS: Record<TopSortKey, (t: TubeRow) => number | null> = {
  name: () => 0,
  ready: (t) => t.ready,
  reserved: (t) => t.reserved,
  delayed: (t) => t.delayed,
  buried: (t) => t.buried,
  put: (t) => t.putPerSec,
  reserve: (t) => t.reservePerSec,
  waiting: (t) => t.waiting,
};

function sortTubes(tubes: readonly TubeRow[], key: TopSortKey): TubeRow[] {
  const by = SORTERS[key];
  return [...tubes].sort(
    (a, b) => (by(b) ?? -1) - (by(a) ?? -1) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

function summary(n: NodeRow): string[] {
  if (!n.reachable) return [`unreachable: ${safeText(n.error)}`];
  return [
    `server ${safeText(n.version)} · up ${n.uptimeSecs}s${n.draining ? ' · DRAINING' : ''} · ${n.tubes} tubes · ` +
      `${n.connections} connections, ${n.workers} workers, ${n.waiting} waiting`,
    `jobs: ${n.ready} ready, ${n.reserved} reserved, ${n.delayed} delayed, ${n.buried} buried, ${n.urgent} urgent · ` +
      `put/s ${rate(n.putPerSec)} · reserve/s ~${rate(n.reservePerSec)}`,
  ];
}

export function renderTopFrame(snapshot: Snapshot, options: TopFrameOptions): string[] {
  const time = new Date(snapshot.atMs).toLocaleTimeString();
  const lines = [`stalkd top · ${options.endpoint} · ${time}${options.live ? ' · q to quit' : ''}`];
  for (const n of snapshot.nodes) lines.push(...summary(n));
  lines.push('');
  const tubes = sortTubes(snapshot.tubes, options.sort);
  const room = Math.max(1, options.rows - lines.length - 2);
  const shown = tubes.slice(0, room);
  lines.push(...formatTable(shown, COLUMNS));
  const hidden = tubes.length - shown.length + snapshot.tubesNotShown;
  if (hidden > 0) lines.push(`… ${hidden} more tubes`);
  return lines.map((l) => (l.length > options.columns ? l.slice(0, options.columns) : l));
}
