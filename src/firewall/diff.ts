import { canonicalJson } from '../platform/json.ts';
import { policyTypesOf } from './evaluate.ts';
import { renderPolicyYaml } from './policy.ts';
import type { NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule } from './types.ts';

/**
 * What would change between the policies in force and a candidate set (`rampart policy diff`):
 * policies added, removed and changed, and inside a changed one the rules added and removed
 * (rules compare as values: reordering changes nothing), rendered as a unified diff of the
 * canonical YAML that `policy get -o yaml` prints.
 */

export interface RuleDelta<R> {
  added: R[];
  removed: R[];
}

export interface PolicyChange {
  /** `<namespace>/<name>` */
  id: string;
  before: NetworkPolicy;
  after: NetworkPolicy;
  /** Fields outside the rules that differ: `podSelector`, `policyTypes`, `labels`, `annotations`. */
  fields: string[];
  ingress: RuleDelta<NetworkPolicyIngressRule>;
  egress: RuleDelta<NetworkPolicyEgressRule>;
}

export interface PolicyDiff {
  added: NetworkPolicy[];
  removed: NetworkPolicy[];
  changed: PolicyChange[];
  /** Ids of the policies that are the same in both. */
  unchanged: string[];
}

const idOf = (p: NetworkPolicy): string => `${p.metadata.namespace}/${p.metadata.name}`;

function canonicalRule(rule: NetworkPolicyIngressRule | NetworkPolicyEgressRule): string {
  const ports = rule.ports?.map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' }));
  return canonicalJson({ ...rule, ports: ports && ports.length > 0 ? ports : undefined });
}

/** Rules as multisets: what `after` has that `before` lacks, and the reverse. */
function ruleDelta<R extends NetworkPolicyIngressRule | NetworkPolicyEgressRule>(
  before: readonly R[],
  after: readonly R[],
): RuleDelta<R> {
  const take = (from: readonly R[], minus: readonly R[]): R[] => {
    const left = new Map<string, number>();
    for (const r of minus) left.set(canonicalRule(r), (left.get(canonicalRule(r)) ?? 0) + 1);
    return from.filter((r) => {
      const k = canonicalRule(r);
      const n = left.get(k) ?? 0;
      if (n > 0) {
        left.set(k, n - 1);
        return false;
      }
      return true;
    });
  };
  return { added: take(after, before), removed: take(before, after) };
}

/** Pure. Policies match by namespace and name. */
export function diffPolicies(
  current: readonly NetworkPolicy[],
  proposed: readonly NetworkPolicy[],
): PolicyDiff {
  const before = new Map(current.map((p) => [idOf(p), p]));
  const after = new Map(proposed.map((p) => [idOf(p), p]));
  const diff: PolicyDiff = { added: [], removed: [], changed: [], unchanged: [] };
  for (const id of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const b = before.get(id);
    const a = after.get(id);
    if (!b) diff.added.push(a!);
    else if (!a) diff.removed.push(b);
    else {
      const fields: string[] = [];
      if (canonicalJson(b.spec.podSelector) !== canonicalJson(a.spec.podSelector)) fields.push('podSelector');
      if (canonicalJson([...policyTypesOf(b)].sort()) !== canonicalJson([...policyTypesOf(a)].sort()))
        fields.push('policyTypes');
      if (canonicalJson(b.metadata.labels ?? {}) !== canonicalJson(a.metadata.labels ?? {}))
        fields.push('labels');
      if (canonicalJson(b.metadata.annotations ?? {}) !== canonicalJson(a.metadata.annotations ?? {}))
        fields.push('annotations');
      const ingress = ruleDelta(b.spec.ingress ?? [], a.spec.ingress ?? []);
      const egress = ruleDelta(b.spec.egress ?? [], a.spec.egress ?? []);
      const same =
        fields.length === 0 && [ingress, egress].every((d) => d.added.length === 0 && d.removed.length === 0);
      if (same) diff.unchanged.push(id);
      else diff.changed.push({ id, before: b, after: a, fields, ingress, egress });
    }
  }
  return diff;
}

// ---- unified text -----------------------------------------------------------------------------------

export type DiffOp = { kind: ' ' | '-' | '+'; line: string };

/** Myers' O((N+M)·D) line diff: a 10,000-rule policy with one change costs little. */
export function diffLines(a: readonly string[], b: readonly string[]): DiffOp[] {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const v = new Int32Array(2 * max + 2);
  const at = (k: number): number => v[max + k]!;
  // trace[d] is the frontier before step d: enough to walk back.
  const trace: Int32Array[] = [];
  search: for (let d = 0; d <= max; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? at(k + 1) : at(k - 1) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[max + k] = x;
      if (x >= n && y >= m) break search;
    }
  }
  const ops: DiffOp[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const t = trace[d]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && t[max + k - 1]! < t[max + k + 1]!) ? k + 1 : k - 1;
    const prevX = t[max + prevK]!;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x--;
      y--;
      ops.push({ kind: ' ', line: a[x]! });
    }
    if (d === 0) break;
    if (x === prevX) ops.push({ kind: '+', line: b[--y]! });
    else ops.push({ kind: '-', line: a[--x]! });
  }
  return ops.reverse();
}

/** Unified hunks (`@@ -a,b +c,d @@`) with `context` lines around each change. */
export function unifiedHunks(ops: readonly DiffOp[], context = 3): string[] {
  const out: string[] = [];
  const changed = ops.map((o, i) => (o.kind === ' ' ? -1 : i)).filter((i) => i >= 0);
  if (changed.length === 0) return out;
  // Group changes whose context windows touch.
  const groups: [number, number][] = [];
  for (const i of changed) {
    const last = groups.at(-1);
    if (last && i - last[1] <= 2 * context) last[1] = i;
    else groups.push([i, i]);
  }
  const lineA = new Int32Array(ops.length + 1);
  const lineB = new Int32Array(ops.length + 1);
  ops.forEach((o, i) => {
    lineA[i + 1] = lineA[i]! + (o.kind === '+' ? 0 : 1);
    lineB[i + 1] = lineB[i]! + (o.kind === '-' ? 0 : 1);
  });
  for (const [first, last] of groups) {
    const start = Math.max(0, first - context);
    const end = Math.min(ops.length, last + context + 1);
    const slice = ops.slice(start, end);
    const countA = slice.filter((o) => o.kind !== '+').length;
    const countB = slice.filter((o) => o.kind !== '-').length;
    out.push(
      `@@ -${lineA[start]! + (countA ? 1 : 0)},${countA} +${lineB[start]! + (countB ? 1 : 0)},${countB} @@`,
    );
    for (const o of slice) out.push(`${o.kind}${o.line}`);
  }
  return out;
}

const lines = (p: NetworkPolicy | undefined): string[] =>
  p ? renderPolicyYaml(p).replace(/\n$/, '').split('\n') : [];

function summaryLine(c: PolicyChange): string {
  const parts: string[] = [];
  for (const dir of ['ingress', 'egress'] as const) {
    const d = c[dir];
    if (d.added.length || d.removed.length)
      parts.push(`${dir} +${d.added.length} -${d.removed.length} rules`);
  }
  if (c.fields.length) parts.push(c.fields.join(', '));
  return `~ ${c.id}: ${parts.join('; ')}`;
}

/** Pure: a summary, then a unified diff per policy that differs (`--- current/<id>`, `+++ proposed/<id>`). */
export function renderPolicyDiff(diff: PolicyDiff, opts: { context?: number } = {}): string {
  const out: string[] = [];
  const { added, removed, changed, unchanged } = diff;
  out.push(
    `${added.length} added, ${removed.length} removed, ${changed.length} changed, ${unchanged.length} unchanged`,
  );
  for (const p of added) out.push(`+ ${idOf(p)}`);
  for (const p of removed) out.push(`- ${idOf(p)}`);
  for (const c of changed) out.push(summaryLine(c));
  const files: [string, NetworkPolicy | undefined, NetworkPolicy | undefined][] = [
    ...added.map((p): [string, undefined, NetworkPolicy] => [idOf(p), undefined, p]),
    ...removed.map((p): [string, NetworkPolicy, undefined] => [idOf(p), p, undefined]),
    ...changed.map((c): [string, NetworkPolicy, NetworkPolicy] => [c.id, c.before, c.after]),
  ].sort((x, y) => x[0].localeCompare(y[0]));
  for (const [id, before, after] of files) {
    out.push(
      '',
      `--- ${before ? `current/${id}` : '/dev/null'}`,
      `+++ ${after ? `proposed/${id}` : '/dev/null'}`,
    );
    out.push(...unifiedHunks(diffLines(lines(before), lines(after)), opts.context ?? 3));
  }
  return `${out.join('\n')}\n`;
}
