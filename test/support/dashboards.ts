/**
 * Reads the shipped Grafana dashboards (grafana/dashboards/*.json) the way the tests need them:
 * every panel (rows' nested panels included) with its PromQL expressions, and the template
 * variables with their `label_values(…)` queries.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRegistry } from '../../src/metrics/common';
import { ALL_FAMILIES } from '../../src/metrics/families';

/** dist/test/support → the source tree's grafana/ */
export const GRAFANA_DIR = join(__dirname, '..', '..', '..', 'grafana');

export interface PanelQueries {
  id: number;
  title: string;
  type: string;
  exprs: string[];
  datasourceUids: string[];
}

export interface Variable {
  name: string;
  type: string;
  /** Query variables: whether "All" is offered, and the regex it stands for. */
  includeAll?: boolean;
  allValue?: string;
  /** For query variables: the `label_values(match, label)` parts. */
  labelValues?: { match: string; label: string };
}

export interface Dashboard {
  file: string;
  uid: string;
  title: string;
  panels: PanelQueries[];
  variables: Variable[];
}

interface RawPanel {
  id?: number;
  title?: string;
  type?: string;
  datasource?: { uid?: string };
  targets?: { expr?: string; datasource?: { uid?: string } }[];
  panels?: RawPanel[];
}

interface RawDashboard {
  uid?: string;
  title?: string;
  panels?: RawPanel[];
  templating?: {
    list?: {
      name: string;
      type: string;
      query?: string | { query?: string };
      includeAll?: boolean;
      allValue?: string;
    }[];
  };
}

function flatten(panels: RawPanel[] | undefined): RawPanel[] {
  return (panels ?? []).flatMap((p) => [p, ...flatten(p.panels)]);
}

const LABEL_VALUES = /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/;

export function loadDashboards(dir = join(GRAFANA_DIR, 'dashboards')): Dashboard[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const raw = JSON.parse(readFileSync(join(dir, file), 'utf8')) as RawDashboard;
      const panels = flatten(raw.panels)
        .filter((p) => p.type !== 'row')
        .map((p) => ({
          id: p.id ?? -1,
          title: p.title ?? '',
          type: p.type ?? '',
          exprs: (p.targets ?? []).map((t) => t.expr ?? ''),
          datasourceUids: [p.datasource?.uid ?? '', ...(p.targets ?? []).map((t) => t.datasource?.uid ?? '')],
        }));
      const variables = (raw.templating?.list ?? []).map((v) => {
        const q = typeof v.query === 'string' ? v.query : v.query?.query;
        const m = q ? LABEL_VALUES.exec(q.trim()) : null;
        const variable: Variable = { name: v.name, type: v.type };
        if (v.includeAll !== undefined) variable.includeAll = v.includeAll;
        if (v.allValue !== undefined) variable.allValue = v.allValue;
        if (m) variable.labelValues = { match: (m[1] as string).trim(), label: m[2] as string };
        return variable;
      });
      return { file, uid: raw.uid ?? '', title: raw.title ?? '', panels, variables };
    });
}

/** Replaces `$name` and `${name}` (longest names first, so `$tube` does not eat `$tube_x`). */
export function substitute(expr: string, values: Record<string, string>): string {
  let out = expr;
  for (const name of Object.keys(values).sort((a, b) => b.length - a.length)) {
    out = out.split(`\${${name}}`).join(values[name] as string);
    out = out.replace(new RegExp(`\\$${name}(?![A-Za-z0-9_])`, 'g'), () => values[name] as string);
  }
  return out;
}

/**
 * Metric names an expression refers to (`stalkd_…` and `up`), histogram suffixes removed. Label
 * names are not metric names: string literals, `{…}` matchers and the label lists of `by`,
 * `without`, `on`, `ignoring`, `group_left` and `group_right` are removed first.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/\b(stalkd_[a-z0-9_]+|up)\b/g)) {
    names.add((m[1] as string).replace(/_(bucket|sum|count)$/, ''));
  }
  return [...names];
}

/** Every series name a stalkd process exports (families, prom-client defaults) plus `up`. */
export function exportedNames(): Set<string> {
  const names = new Set(ALL_FAMILIES.map((f) => f.name));
  for (const m of createRegistry('node').getMetricsAsArray()) names.add(m.name);
  names.add('up'); // Prometheus's own per-target series
  return names;
}

/** Every vector selector of an expression: metric name and its matchers as written. */
export function selectors(expr: string): Array<{ name: string; matchers: string }> {
  const bare = expr.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out: Array<{ name: string; matchers: string }> = [];
  for (const m of bare.matchAll(/\b(stalkd_[a-z0-9_]+|up)\b(\{[^}]*\})?/g)) {
    out.push({ name: m[1] as string, matchers: m[2] ?? '' });
  }
  return out;
}
