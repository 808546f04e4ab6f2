import { parseCidr } from '../network/index.ts';
import { RampartError } from '../platform/errors.ts';
import type { ResolvedStack } from '../stack/index.ts';
import { createEvaluator, ipv4ToInt } from './evaluate.ts';
import type { NetworkPolicy, Protocol, World } from './types.ts';

/**
 * Data-protection rules (`dataRules: [{ forbid: [a, b] }]`): which data classes can reach each
 * service through the connections the policies allow, and where a forbidden pair meets.
 *
 * The model:
 * - A service holds the classes it declares (`data.reads` ∪ `data.emits`) and every class it
 *   receives.
 * - An allowed connection client → server (some port the server declares, judged by the reference
 *   evaluator) carries data both ways: the request carries what the client passes on to the server,
 *   the response carries what the server passes on back to the client.
 * - What a service passes on: with `forwarding: 'emits'` (the default) exactly its declared
 *   `emits`, trusting the stack's declarations (a service that reads a class without emitting it
 *   keeps it); with `forwarding: 'held'` everything it holds (assume any service may leak anything).
 *   Received classes travel on through services that pass them on: the computation is a fixpoint
 *   (a breadth-first search per class), so reach is transitive and every path found is shortest.
 * - Databases are left out: each user gets its own role and schema, so a database passes no
 *   class from one user to another. The host is left out: it is the control plane, not a service
 *   that handles data.
 * - Two services that share no network (when `subnets` is given) have no connection, whatever
 *   the policies say.
 * Sound with respect to the declarations: if the declared data and the allowed connections let a
 * class reach a service, it is reported, with the path as evidence.
 */

export interface DataDeclaration {
  namespace: string;
  service: string;
  reads: readonly string[];
  emits: readonly string[];
}

export type DataRule = ResolvedStack['dataRules'][number];

export interface ComplianceInput {
  world: World;
  policies: readonly NetworkPolicy[];
  data: readonly DataDeclaration[];
  rules: readonly DataRule[];
  /** @default 'emits' */
  forwarding?: 'emits' | 'held';
  /** The bridges' gateways (for the evaluator). */
  hostIps?: readonly string[];
  /** The env's subnets (app, db): two pods connect only through an address pair in one of them. */
  subnets?: readonly string[];
  /**
   * The stack's intent instead of everything learn mode lets through: only connections a policy
   * decides (one side isolated, and allowed) and the flows the stack declares (`client -> server`
   * ids, see declaredFlows) count. What a deploy is judged on before anything is enforced.
   */
  declared?: readonly (readonly [string, string])[];
}

/**
 * Pure: the flows a stack declares: a service calls what it `dependsOn` (services only; a
 * database passes no class between its users). A name is looked up in the client's namespace
 * first, then anywhere in the stack.
 */
export function declaredFlows(stack: Pick<ResolvedStack, 'services'>): [string, string][] {
  const out: [string, string][] = [];
  for (const s of stack.services) {
    for (const name of s.dependsOn) {
      const same = stack.services.filter((t) => t.name === name && t.namespace === s.namespace);
      const targets = same.length ? same : stack.services.filter((t) => t.name === name);
      for (const t of targets) out.push([`${s.namespace}/${s.name}`, `${t.namespace}/${t.name}`]);
    }
  }
  return out;
}

export function dataDeclarations(stack: Pick<ResolvedStack, 'services'>): DataDeclaration[] {
  return stack.services.map((s) => ({
    namespace: s.namespace,
    service: s.name,
    reads: s.data.reads,
    emits: s.data.emits,
  }));
}

/** One allowed way to open a connection from `client` to `server` (`<namespace>/<service>`). */
export interface Connection {
  client: string;
  server: string;
  protocol: Protocol;
  port: number;
  portName?: string;
  /** The verdict's reason: which rules allow it, or which side is not isolated. */
  allowedBy: string;
}

/**
 * Pure: for every ordered pair of services in `services` and every port the server declares,
 * whether some address pair of their pods is allowed. One connection per (client, server) pair:
 * the first allowed port, in the server's declaration order.
 */
export function allowedConnections(
  world: World,
  policies: readonly NetworkPolicy[],
  opts: {
    services: ReadonlySet<string>;
    hostIps?: readonly string[];
    subnets?: readonly string[];
    /** Only policy-decided connections and these `client -> server` pairs (ComplianceInput.declared). */
    declared?: readonly (readonly [string, string])[];
  },
): Connection[] {
  const declared = opts.declared && new Set(opts.declared.map(([c, s]) => `${c}>${s}`));
  const check = createEvaluator(world, policies, { hostIps: opts.hostIps ?? [] });
  const byService = new Map<string, World['pods'][number][]>();
  for (const p of world.pods) {
    const id = `${p.namespace}/${p.service}`;
    if (opts.services.has(id)) byService.set(id, [...(byService.get(id) ?? []), p]);
  }
  const subnets = (opts.subnets ?? []).map((s) => {
    const c = parseCidr(s);
    return [c.network, c.network + 2 ** (32 - c.prefix)] as const;
  });
  const sameNet = (a: string, b: string): boolean => {
    if (subnets.length === 0) return true;
    const [x, y] = [ipv4ToInt(a), ipv4ToInt(b)];
    return subnets.some(([lo, hi]) => x >= lo && x < hi && y >= lo && y < hi);
  };
  const out: Connection[] = [];
  const ids = [...byService.keys()].sort();
  for (const client of ids) {
    for (const server of ids) {
      if (client === server) continue;
      const serverPods = byService.get(server)!;
      const ports = serverPods[0]?.ports ?? [];
      found: for (const port of ports) {
        for (const c of byService.get(client)!) {
          for (const s of serverPods) {
            for (const srcIp of c.ips) {
              for (const dstIp of s.ips) {
                if (!sameNet(srcIp, dstIp)) continue;
                const v = check({ srcIp, dstIp, protocol: port.protocol, dstPort: port.port, time: 0 });
                if (!v.allowed) continue;
                const decided = v.egress.isolated || v.ingress.isolated;
                if (declared && !decided && !declared.has(`${client}>${server}`)) continue;
                out.push({
                  client,
                  server,
                  protocol: port.protocol,
                  port: port.port,
                  ...(port.name && { portName: port.name }),
                  allowedBy: declared && !decided ? `declared: ${client} dependsOn ${server}` : v.reason,
                });
                break found;
              }
            }
          }
        }
      }
    }
  }
  return out;
}

/** One step of a class's journey: data moving from `from` to `to` over `connection`. */
export interface DataHop {
  from: string;
  to: string;
  /** `request`: `from` is the client; `response`: `from` is the server answering `to`. */
  carries: 'request' | 'response';
  connection: Connection;
}

export interface ClassReach {
  class: string;
  /** The service whose declaration brings the class in. */
  origin: string;
  /** Empty when the service declares the class itself. */
  path: DataHop[];
}

export interface ServiceCompliance {
  service: string;
  reads: readonly string[];
  emits: readonly string[];
  /** Every class it holds, sorted, each with its shortest evidence path. */
  classes: ClassReach[];
}

export interface Violation {
  rule: DataRule;
  service: string;
  evidence: [ClassReach, ClassReach];
}

export interface ComplianceReport {
  forwarding: 'emits' | 'held';
  rules: DataRule[];
  services: ServiceCompliance[];
  connections: Connection[];
  violations: Violation[];
}

/** Pure: the fixpoint described at the top of this file. */
export function complianceReport(input: ComplianceInput): ComplianceReport {
  const forwarding = input.forwarding ?? 'emits';
  const decl = new Map(input.data.map((d) => [`${d.namespace}/${d.service}`, d]));
  const connections = allowedConnections(input.world, input.policies, {
    services: new Set(decl.keys()),
    hostIps: input.hostIps,
    subnets: input.subnets,
    declared: input.declared,
  });
  // Data edges: a request from client to server, a response from server to client.
  const out = new Map<string, DataHop[]>();
  const link = (hop: DataHop) => out.set(hop.from, [...(out.get(hop.from) ?? []), hop]);
  for (const c of connections) {
    link({ from: c.client, to: c.server, carries: 'request', connection: c });
    link({ from: c.server, to: c.client, carries: 'response', connection: c });
  }
  const classes = new Set<string>();
  for (const d of decl.values()) for (const x of [...d.reads, ...d.emits]) classes.add(x);
  for (const r of input.rules) for (const x of r.forbid) classes.add(x);

  const reach = new Map<string, Map<string, ClassReach>>(); // service -> class -> reach
  for (const id of decl.keys()) reach.set(id, new Map());
  for (const x of [...classes].sort()) {
    const passesOn = (id: string): boolean => forwarding === 'held' || decl.get(id)!.emits.includes(x);
    const queue: string[] = [];
    for (const [id, d] of [...decl].sort(([a], [b]) => a.localeCompare(b))) {
      if (d.reads.includes(x) || d.emits.includes(x)) {
        reach.get(id)!.set(x, { class: x, origin: id, path: [] });
        queue.push(id);
      }
    }
    for (let i = 0; i < queue.length; i++) {
      const id = queue[i]!;
      if (!passesOn(id)) continue;
      const here = reach.get(id)!.get(x)!;
      for (const hop of out.get(id) ?? []) {
        const there = reach.get(hop.to)!;
        if (there.has(x)) continue;
        there.set(x, { class: x, origin: here.origin, path: [...here.path, hop] });
        queue.push(hop.to);
      }
    }
  }

  const services: ServiceCompliance[] = [...decl]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, d]) => ({
      service: id,
      reads: d.reads,
      emits: d.emits,
      classes: [...reach.get(id)!.values()].sort((a, b) => a.class.localeCompare(b.class)),
    }));
  const violations: Violation[] = [];
  for (const rule of input.rules) {
    for (const s of services) {
      const a = reach.get(s.service)!.get(rule.forbid[0]);
      const b = reach.get(s.service)!.get(rule.forbid[1]);
      if (a && b) violations.push({ rule, service: s.service, evidence: [a, b] });
    }
  }
  return { forwarding, rules: [...input.rules], services, connections, violations };
}

const violationKey = (v: Violation): string => `${v.rule.forbid.join('+')}@${v.service}`;

export interface PolicyChangeCheck {
  allowed: boolean;
  /** Violations the change would create. */
  introduced: Violation[];
  /** Violations already there before (not the change's fault; reported, not refused). */
  existing: Violation[];
  message: string;
}

/**
 * Pure: refuse a change (policies applied, or a deploy that changes services or their data) when
 * it introduces a violation. `before` and `after` are the whole inputs, so both kinds fit.
 */
export function checkPolicyChange(before: ComplianceInput, after: ComplianceInput): PolicyChangeCheck {
  const was = new Set(complianceReport(before).violations.map(violationKey));
  const now = complianceReport(after).violations;
  const introduced = now.filter((v) => !was.has(violationKey(v)));
  const existing = now.filter((v) => was.has(violationKey(v)));
  const message =
    introduced.length === 0
      ? 'the change keeps every data-protection rule'
      : `refused: ${introduced.map(formatViolation).join('\n')}`;
  return { allowed: introduced.length === 0, introduced, existing, message };
}

/** Throws RAMPART_E_DATA_RULE with the evidence paths when the change introduces a violation. */
export function assertPolicyChange(
  before: ComplianceInput,
  after: ComplianceInput,
  opts: { what?: string; fix?: string } = {},
): PolicyChangeCheck {
  const result = checkPolicyChange(before, after);
  if (!result.allowed) {
    const message = opts.what ? `${opts.what} ${result.message}` : result.message;
    throw new RampartError('RAMPART_E_DATA_RULE', message, {
      ...(opts.fix && { fix: opts.fix }),
      violations: result.introduced.map((v) => ({
        forbid: v.rule.forbid,
        service: v.service,
        paths: v.evidence.map((e) => ({ class: e.class, path: formatPath(e) })),
      })),
    });
  }
  return result;
}

// ---- rendering --------------------------------------------------------------------------------------

export function formatHop(h: DataHop): string {
  const c = h.connection;
  const port = `${c.protocol}/${c.port}${c.portName ? ` ${c.portName}` : ''}`;
  const how = h.carries === 'request' ? `request to ${port}` : `response from ${port}`;
  return `${h.from} -> ${h.to} (${how}; ${c.allowedBy})`;
}

/** `fraud/velocity -> fraud/credit (response from TCP/8080 http; allowed by …)`, or `declared by …`. */
export function formatPath(r: ClassReach): string {
  if (r.path.length === 0) return `declared by ${r.origin}`;
  return r.path.map(formatHop).join(' => ');
}

export function formatViolation(v: Violation): string {
  const [a, b] = v.evidence;
  return [
    `${a.class} and ${b.class} meet in ${v.service}${v.rule.reason ? ` (${v.rule.reason})` : ''}`,
    `  ${a.class}: ${formatPath(a)}`,
    `  ${b.class}: ${formatPath(b)}`,
  ].join('\n');
}

const cell = (s: string): string => s.replaceAll('|', '\\|');

/** Pure: `rampart compliance report` as Markdown (the JSON form is the report object itself). */
export function renderComplianceMarkdown(report: ComplianceReport): string {
  const lines: string[] = ['# Data-protection report', ''];
  lines.push(
    `Classes travel over the connections the policies allow: a request carries what the client passes on, a response what the server passes on. Services pass on ${
      report.forwarding === 'emits'
        ? 'exactly the classes they declare in `data.emits`'
        : 'every class they hold'
    }; databases are left out (one role and schema per user).`,
    '',
    '## Rules',
    '',
  );
  if (report.rules.length === 0) lines.push('No `dataRules` in the stack.');
  for (const r of report.rules) {
    const broken = report.violations.filter((v) => v.rule === r).map((v) => v.service);
    lines.push(
      `- **${r.forbid[0]}** never with **${r.forbid[1]}**${r.reason ? `: ${r.reason}` : ''} — ${
        broken.length ? `VIOLATED in ${broken.join(', ')}` : 'holds'
      }`,
    );
  }
  lines.push('', '## Violations', '');
  if (report.violations.length === 0) lines.push('None.');
  for (const v of report.violations) {
    lines.push(`### ${v.rule.forbid[0]} and ${v.rule.forbid[1]} meet in ${v.service}`, '');
    for (const e of v.evidence) lines.push(`- ${e.class}: ${formatPath(e)}`);
    lines.push('');
  }
  lines.push('', '## Services', '');
  for (const s of report.services) {
    lines.push(
      `### ${s.service}`,
      '',
      `Reads: ${s.reads.join(', ') || '-'}. Emits: ${s.emits.join(', ') || '-'}.`,
      '',
    );
    lines.push('| class | how it reaches the service |', '| --- | --- |');
    for (const c of s.classes) lines.push(`| ${cell(c.class)} | ${cell(formatPath(c))} |`);
    lines.push('');
  }
  return `${lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}
