import { LineCounter, parseAllDocuments, stringify } from 'yaml';
import { RampartError } from '../platform/errors.ts';
import { DNS_LABEL_PATTERN, MAX_DNS_LABEL } from '../platform/names.ts';
import {
  ProblemList,
  describeValue,
  didYouMean,
  formatProblem,
  isPlainObject,
  yamlLocator,
} from '../stack/index.ts';
import type { StackProblem } from '../stack/index.ts';
import { cidrBounds, intToIpv4, ipv4ToInt, policyTypesOf } from './evaluate.ts';
import { checkLabelMap, checkSelector, isDnsSubdomain } from './selectors.ts';
import type { IPBlock, LabelSelector, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from './types.ts';

export interface ParsePoliciesOptions {
  /** The YAML text: one or more NetworkPolicy documents separated by `---`. */
  text: string;
  /** Where the text comes from, for messages (never read). */
  file: string;
  /** Namespace of documents that name none; without it `metadata.namespace` is required. */
  namespace?: string;
}

type Path = (string | number)[];

/** Problems of one document, counted so a document with problems yields no policy. */
class PolicyChecker {
  count = 0;
  constructor(private readonly problems: ProblemList) {}

  add(path: Path, message: string, fix: string, anchor: 'key' | 'value' = 'value'): void {
    this.count++;
    this.problems.add({ path, message, fix, anchor });
  }

  /** A mapping with only `allowed` keys (each unknown key is a problem). */
  mapping(
    value: unknown,
    path: Path,
    allowed: readonly string[],
    example: string,
  ): Record<string, unknown> | undefined {
    if (!isPlainObject(value)) {
      this.add(path, `expected a mapping, got ${describeValue(value)}`, `write it like ${example}`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (allowed.includes(key)) continue;
      this.add(
        [...path, key],
        `unknown field '${key}'${didYouMean(key, allowed)}`,
        `remove it; this mapping takes ${allowed.join(', ')}`,
        'key',
      );
    }
    return value;
  }

  list(value: unknown, path: Path, example: string): unknown[] | undefined {
    if (Array.isArray(value)) return value;
    this.add(path, `expected a list, got ${describeValue(value)}`, `write it as a list, e.g. ${example}`);
    return undefined;
  }

  string(value: unknown, path: Path, example: string): string | undefined {
    if (typeof value === 'string') return value;
    const fix =
      typeof value === 'number' || typeof value === 'boolean'
        ? `quote it: '${String(value)}'`
        : `write it like ${example}`;
    this.add(path, `expected a string, got ${describeValue(value)}`, fix);
    return undefined;
  }
}

/**
 * Parses a file of Kubernetes NetworkPolicy documents, strictly: unknown fields, wrong types and
 * what the Kubernetes API server would refuse are reported all at once, each with file:line:col,
 * field and fix, in one RAMPART_E_POLICY_INVALID. Pure. Defaults are applied as the API server
 * applies them (`policyTypes`, a port's `protocol: TCP`), so stored policies say what they do.
 */
export function parsePolicies(opts: ParsePoliciesOptions): NetworkPolicy[] {
  const { text, file } = opts;
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) {
    const error = doc.errors[0];
    if (!error) continue;
    const { line, col } = lineCounter.linePos(error.pos[0]);
    throw new RampartError('RAMPART_E_POLICY_INVALID', `${file}:${line}:${col}: ${error.message}`, {
      file,
      line,
      column: col,
      yamlCode: error.code,
      fix: 'fix the YAML syntax at the position shown',
    });
  }
  const problems: StackProblem[] = [];
  const policies: NetworkPolicy[] = [];
  const seen = new Map<string, number>();
  list.forEach((doc, index) => {
    let raw: unknown;
    try {
      raw = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      throw new RampartError(
        'RAMPART_E_POLICY_INVALID',
        `${file}: ${(error as Error).message}`,
        { file },
        { cause: error },
      );
    }
    if (raw === null || raw === undefined) return; // an empty document, e.g. after a trailing `---`
    const documentProblems = new ProblemList({ file, locate: yamlLocator(doc, lineCounter) });
    const checker = new PolicyChecker(documentProblems);
    const policy = checkPolicy(raw, checker, opts.namespace);
    if (policy) {
      const id = `${policy.metadata.namespace}/${policy.metadata.name}`;
      const first = seen.get(id);
      if (first !== undefined) {
        checker.add(
          ['metadata', 'name'],
          `policy ${id} is defined twice (documents ${first + 1} and ${index + 1})`,
          'give one of them another name, or merge their rules',
        );
      } else {
        seen.set(id, index);
        policies.push(policy);
      }
    }
    problems.push(...collect(documentProblems));
  });
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new RampartError('RAMPART_E_POLICY_INVALID', problems.map(formatProblem).join('\n'), {
      file,
      line: first.line,
      column: first.column,
      field: first.field,
      fix: first.fix,
      problems,
    });
  }
  return policies;
}

/** ProblemList throws its own (stack) code: take its sorted problems and re-throw them as ours. */
function collect(list: ProblemList): StackProblem[] {
  try {
    list.throwIfAny();
    return [];
  } catch (error) {
    if (error instanceof RampartError && Array.isArray(error.details['problems'])) {
      return error.details['problems'] as StackProblem[];
    }
    throw error;
  }
}

const DNS_SUBDOMAIN_FIX =
  "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, e.g. allow-web";

function checkPolicy(
  raw: unknown,
  c: PolicyChecker,
  defaultNamespace: string | undefined,
): NetworkPolicy | undefined {
  const top = c.mapping(
    raw,
    [],
    ['apiVersion', 'kind', 'metadata', 'spec'],
    'apiVersion: networking.k8s.io/v1',
  );
  if (!top) return undefined;
  if (top['apiVersion'] === undefined) {
    c.add(['apiVersion'], 'is required', 'add apiVersion: networking.k8s.io/v1 at the top of the document');
  } else if (top['apiVersion'] !== 'networking.k8s.io/v1') {
    c.add(
      ['apiVersion'],
      `unsupported apiVersion ${describeValue(top['apiVersion'])}`,
      'use apiVersion: networking.k8s.io/v1',
    );
  }
  if (top['kind'] === undefined) c.add(['kind'], 'is required', 'add kind: NetworkPolicy');
  else if (top['kind'] !== 'NetworkPolicy') {
    c.add(
      ['kind'],
      `Rampart reads NetworkPolicy documents only, got kind ${describeValue(top['kind'])}`,
      'use kind: NetworkPolicy, or move this document to another file',
    );
  }
  const metadata = checkMetadata(top['metadata'], c, defaultNamespace);
  let spec: NetworkPolicy['spec'] | undefined;
  if (top['spec'] === undefined || top['spec'] === null) {
    c.add(
      ['spec'],
      'is required',
      'add spec: with podSelector: {} (every pod of the namespace) or a selector',
    );
  } else spec = checkSpec(top['spec'], c);
  if (c.count > 0 || !metadata || !spec) return undefined;
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata, spec };
}

function checkMetadata(
  raw: unknown,
  c: PolicyChecker,
  defaultNamespace: string | undefined,
): NetworkPolicy['metadata'] | undefined {
  if (raw === undefined || raw === null) {
    c.add(['metadata'], 'is required', 'add metadata: with name: <policy> and namespace: <namespace>');
    return undefined;
  }
  const m = c.mapping(
    raw,
    ['metadata'],
    ['name', 'namespace', 'labels', 'annotations'],
    'metadata: { name: allow-web, namespace: shop }',
  );
  if (!m) return undefined;
  let name: string | undefined;
  if (m['name'] === undefined)
    c.add(['metadata', 'name'], 'is required', 'add name: <policy name>, e.g. name: allow-web');
  else {
    name = c.string(m['name'], ['metadata', 'name'], 'allow-web');
    if (name !== undefined && !isDnsSubdomain(name)) {
      c.add(
        ['metadata', 'name'],
        `'${name}' is not a valid name (a DNS subdomain of at most 253 characters)`,
        DNS_SUBDOMAIN_FIX,
      );
    }
  }
  let namespace = defaultNamespace;
  if (m['namespace'] !== undefined) {
    namespace = c.string(m['namespace'], ['metadata', 'namespace'], 'shop');
    if (namespace !== undefined && (!DNS_LABEL_PATTERN.test(namespace) || namespace.length > MAX_DNS_LABEL)) {
      c.add(
        ['metadata', 'namespace'],
        `'${namespace}' is not a valid namespace name (a DNS label)`,
        "use at most 63 lowercase letters, digits and '-'",
      );
    }
  } else if (namespace === undefined) {
    c.add(
      ['metadata', 'namespace'],
      'is required',
      'add namespace: <namespace of the pods it selects>, or pass a default namespace',
    );
  }
  const labels = checkLabelMap(m['labels'], ['metadata', 'labels'], c, true);
  const annotations = checkLabelMap(m['annotations'], ['metadata', 'annotations'], c, false);
  if (name === undefined || namespace === undefined) return undefined;
  return { name, namespace, ...(labels && { labels }), ...(annotations && { annotations }) };
}

function checkSpec(raw: unknown, c: PolicyChecker): NetworkPolicy['spec'] | undefined {
  const s = c.mapping(
    raw,
    ['spec'],
    ['podSelector', 'policyTypes', 'ingress', 'egress'],
    'spec: { podSelector: {} }',
  );
  if (!s) return undefined;
  let podSelector: LabelSelector | undefined;
  if (s['podSelector'] === undefined) {
    c.add(
      ['spec', 'podSelector'],
      'is required',
      'add podSelector: {} to select every pod of the namespace, or matchLabels',
    );
  } else podSelector = checkSelector(s['podSelector'] ?? {}, ['spec', 'podSelector'], c);

  let policyTypes: ('Ingress' | 'Egress')[] | undefined;
  if (s['policyTypes'] !== undefined && s['policyTypes'] !== null) {
    const items = c.list(s['policyTypes'], ['spec', 'policyTypes'], '[Ingress, Egress]');
    policyTypes = [];
    items?.forEach((t, i) => {
      if (t !== 'Ingress' && t !== 'Egress') {
        const shown =
          typeof t === 'string' ? `'${t}'${didYouMean(t, ['Ingress', 'Egress'])}` : describeValue(t);
        c.add(
          ['spec', 'policyTypes', i],
          `unknown policy type ${shown}`,
          'use Ingress or Egress (capitalised)',
        );
      } else if (policyTypes!.includes(t))
        c.add(['spec', 'policyTypes', i], `${t} is listed twice`, 'list each type once');
      else policyTypes!.push(t);
    });
  }
  const ingress = rules(s['ingress'], 'ingress', c);
  const egress = rules(s['egress'], 'egress', c);
  if (!podSelector) return undefined;
  const spec: NetworkPolicy['spec'] = {
    podSelector,
    ...(policyTypes && policyTypes.length > 0 && { policyTypes }),
    ...(ingress && {
      ingress: ingress.map((r) => ({
        ...(r.peers && { from: r.peers }),
        ...(r.ports && { ports: r.ports }),
      })),
    }),
    ...(egress && {
      egress: egress.map((r) => ({ ...(r.peers && { to: r.peers }), ...(r.ports && { ports: r.ports }) })),
    }),
  };
  // Defaulted as the API server does, so `get -o yaml` and every consumer see the effective types.
  spec.policyTypes = policyTypesOf({ spec } as NetworkPolicy);
  return spec;
}

type Rule = { peers?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] };

function rules(raw: unknown, direction: 'ingress' | 'egress', c: PolicyChecker): Rule[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  const peerKey = direction === 'ingress' ? 'from' : 'to';
  const items = c.list(
    raw,
    ['spec', direction],
    `- ${peerKey}: [{ podSelector: { matchLabels: { app: web } } }]`,
  );
  return items?.map((item, i) => {
    const path: Path = ['spec', direction, i];
    // A null rule (`- `) is the empty rule: it allows everything, as the API server decodes it.
    const r =
      item === null ? {} : c.mapping(item, path, [peerKey, 'ports'], `{ ${peerKey}: [...], ports: [...] }`);
    if (!r) return {};
    const rule: Rule = {};
    if (r[peerKey] !== undefined && r[peerKey] !== null) {
      const peers = c.list(r[peerKey], [...path, peerKey], '- podSelector: { matchLabels: { app: web } }');
      if (peers) rule.peers = peers.flatMap((p, j) => checkPeer(p, [...path, peerKey, j], c) ?? []);
    }
    if (r['ports'] !== undefined && r['ports'] !== null) {
      const ports = c.list(r['ports'], [...path, 'ports'], '- { protocol: TCP, port: 80 }');
      if (ports) rule.ports = ports.flatMap((p, j) => checkPort(p, [...path, 'ports', j], c) ?? []);
    }
    return rule;
  });
}

function checkPeer(raw: unknown, path: Path, c: PolicyChecker): NetworkPolicyPeer | undefined {
  const p = c.mapping(
    raw,
    path,
    ['podSelector', 'namespaceSelector', 'ipBlock'],
    '{ podSelector: { matchLabels: { app: web } } }',
  );
  if (!p) return undefined;
  const present = (k: string) => p[k] !== undefined && p[k] !== null;
  if (!present('podSelector') && !present('namespaceSelector') && !present('ipBlock')) {
    c.add(
      path,
      'a peer needs podSelector, namespaceSelector or ipBlock',
      'add one; `- podSelector: {}` means every pod of the namespace',
    );
    return undefined;
  }
  if (present('ipBlock') && (present('podSelector') || present('namespaceSelector'))) {
    c.add(
      [...path, 'ipBlock'],
      'ipBlock cannot be combined with podSelector or namespaceSelector in one peer',
      'make them two list items: each `- ` is a peer, and peers add up',
      'key',
    );
    return undefined;
  }
  const peer: NetworkPolicyPeer = {};
  if (present('podSelector')) peer.podSelector = checkSelector(p['podSelector'], [...path, 'podSelector'], c);
  if (present('namespaceSelector'))
    peer.namespaceSelector = checkSelector(p['namespaceSelector'], [...path, 'namespaceSelector'], c);
  if (present('ipBlock')) peer.ipBlock = checkIpBlock(p['ipBlock'], [...path, 'ipBlock'], c);
  return peer;
}

const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** A CIDR like 198.18.0.0/15, or why it is not one (Rampart's pods are IPv4-only). */
function cidrProblem(cidr: string): { message: string; fix: string } | undefined {
  if (cidr.includes(':')) {
    return {
      message: `IPv6 block ${cidr} is not supported by Rampart (pods have IPv4 addresses only)`,
      fix: 'use an IPv4 CIDR',
    };
  }
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = Number(m?.[5]);
  if (!m || octets.some((o) => o > 255) || prefix > 32) {
    return {
      message: `'${cidr}' is not an IPv4 CIDR`,
      fix: 'write it like 198.18.0.0/15 (a /32 for one address)',
    };
  }
  const [lo] = cidrBounds(cidr)!;
  const start = ipv4ToInt(cidr.slice(0, cidr.indexOf('/')));
  if (lo !== start) return { message: `'${cidr}' has host bits set`, fix: `use ${intToIpv4(lo)}/${prefix}` };
  return undefined;
}

function checkIpBlock(raw: unknown, path: Path, c: PolicyChecker): IPBlock | undefined {
  const b = c.mapping(raw, path, ['cidr', 'except'], '{ cidr: 198.18.0.0/16, except: [198.18.1.0/24] }');
  if (!b) return undefined;
  if (b['cidr'] === undefined) {
    c.add(path, 'cidr is required', 'add cidr: <IPv4 CIDR>, e.g. cidr: 198.18.0.0/16');
    return undefined;
  }
  const cidr = c.string(b['cidr'], [...path, 'cidr'], '198.18.0.0/16');
  const problem = cidr === undefined ? undefined : cidrProblem(cidr);
  if (problem) c.add([...path, 'cidr'], problem.message, problem.fix);
  const except: string[] = [];
  if (b['except'] !== undefined && b['except'] !== null) {
    c.list(b['except'], [...path, 'except'], '[198.18.1.0/24]')?.forEach((e, i) => {
      const text = c.string(e, [...path, 'except', i], '198.18.1.0/24');
      if (text === undefined) return;
      const bad = cidrProblem(text);
      if (bad) return c.add([...path, 'except', i], bad.message, bad.fix);
      if (cidr !== undefined && !problem) {
        const [lo, hi] = cidrBounds(cidr)!;
        const [elo, ehi] = cidrBounds(text)!;
        // As the API server: an except must be a strict subset of the cidr.
        if (elo < lo || ehi > hi || (elo === lo && ehi === hi)) {
          return c.add(
            [...path, 'except', i],
            `${text} is not strictly inside ${cidr}`,
            `use a smaller block inside ${cidr}, or remove it`,
          );
        }
      }
      except.push(text);
    });
  }
  if (cidr === undefined || problem) return undefined;
  return { cidr, ...(b['except'] !== undefined && b['except'] !== null && { except }) };
}

function checkPort(raw: unknown, path: Path, c: PolicyChecker): NetworkPolicyPort | undefined {
  const p = c.mapping(raw, path, ['protocol', 'port', 'endPort'], '{ protocol: TCP, port: 80 }');
  if (!p) return undefined;
  const before = c.count;
  let protocol: NetworkPolicyPort['protocol'] = 'TCP';
  if (p['protocol'] !== undefined && p['protocol'] !== null) {
    const value = p['protocol'];
    if (value === 'SCTP') {
      c.add(
        [...path, 'protocol'],
        'SCTP is not supported by Rampart (nftables path supports TCP and UDP)',
        'use TCP or UDP',
      );
    } else if (value === 'TCP' || value === 'UDP') protocol = value;
    else {
      const upper = typeof value === 'string' ? value.toUpperCase() : '';
      const fix = upper === 'TCP' || upper === 'UDP' ? `write ${upper} (upper case)` : 'use TCP or UDP';
      c.add(
        [...path, 'protocol'],
        `unknown protocol ${typeof value === 'string' ? `'${value}'` : describeValue(value)}`,
        fix,
      );
    }
  }
  let port: number | string | undefined;
  const rawPort = p['port'];
  if (rawPort !== undefined && rawPort !== null) {
    if (typeof rawPort === 'number') {
      if (Number.isInteger(rawPort) && rawPort >= 1 && rawPort <= 65535) port = rawPort;
      else
        c.add(
          [...path, 'port'],
          `port ${rawPort} is out of range`,
          'use a whole number from 1 to 65535, or a port name',
        );
    } else if (typeof rawPort === 'string') {
      if (/^\d+$/.test(rawPort))
        c.add(
          [...path, 'port'],
          `expected a port number or name, got the string "${rawPort}"`,
          'remove the quotes',
        );
      else if (
        rawPort.length > 15 ||
        !IANA_SVC_NAME.test(rawPort) ||
        rawPort.includes('--') ||
        !/[a-z]/.test(rawPort)
      ) {
        c.add(
          [...path, 'port'],
          `'${rawPort}' is not a valid port name`,
          "use the name of a port of the destination service: at most 15 lowercase letters, digits and '-', e.g. http",
        );
      } else port = rawPort;
    } else
      c.add(
        [...path, 'port'],
        `expected a port number or name, got ${describeValue(rawPort)}`,
        'write it like port: 80 or port: http',
      );
  }
  let endPort: number | undefined;
  const rawEnd = p['endPort'];
  if (rawEnd !== undefined && rawEnd !== null) {
    if (typeof rawEnd !== 'number' || !Number.isInteger(rawEnd) || rawEnd < 1 || rawEnd > 65535) {
      c.add(
        [...path, 'endPort'],
        `expected a whole number from 1 to 65535, got ${describeValue(rawEnd)}`,
        'write it like endPort: 32768',
      );
    } else if (rawPort === undefined || rawPort === null) {
      c.add(
        [...path, 'endPort'],
        'endPort needs a numeric port',
        'add port: <first port of the range>',
        'key',
      );
    } else if (typeof rawPort === 'string') {
      c.add(
        [...path, 'endPort'],
        'endPort cannot be used with a named port',
        'use a numeric port, or remove endPort',
        'key',
      );
    } else if (typeof port === 'number' && rawEnd < port) {
      c.add(
        [...path, 'endPort'],
        `endPort ${rawEnd} is below port ${port}`,
        `use an endPort of at least ${port}`,
      );
    } else endPort = rawEnd;
  }
  if (c.count > before) return undefined;
  return { protocol, ...(port !== undefined && { port }), ...(endPort !== undefined && { endPort }) };
}

// ---- rendering -------------------------------------------------------------------------------------

const sortedMap = (m: Record<string, string>) =>
  Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

function canonicalSelector(s: LabelSelector): LabelSelector {
  return {
    ...(s.matchLabels && Object.keys(s.matchLabels).length > 0 && { matchLabels: sortedMap(s.matchLabels) }),
    ...(s.matchExpressions &&
      s.matchExpressions.length > 0 && {
        matchExpressions: s.matchExpressions.map((e) => ({
          key: e.key,
          operator: e.operator,
          ...(e.values && { values: [...e.values] }),
        })),
      }),
  };
}

function canonicalPeer(p: NetworkPolicyPeer): NetworkPolicyPeer {
  return {
    ...(p.podSelector && { podSelector: canonicalSelector(p.podSelector) }),
    ...(p.namespaceSelector && { namespaceSelector: canonicalSelector(p.namespaceSelector) }),
    ...(p.ipBlock && {
      ipBlock: { cidr: p.ipBlock.cidr, ...(p.ipBlock.except && { except: [...p.ipBlock.except] }) },
    }),
  };
}

const canonicalPort = (p: NetworkPolicyPort): NetworkPolicyPort => ({
  protocol: p.protocol ?? 'TCP',
  ...(p.port !== undefined && { port: p.port }),
  ...(p.endPort !== undefined && { endPort: p.endPort }),
});

/**
 * The policy as YAML, deterministic (fixed key order, sorted label maps, defaults spelled out), as
 * `rampart policy get -o yaml` prints it; parsePolicies reads it back to the same policy.
 */
export function renderPolicyYaml(policy: NetworkPolicy): string {
  const { metadata, spec } = policy;
  const doc = {
    apiVersion: policy.apiVersion,
    kind: policy.kind,
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace,
      ...(metadata.labels &&
        Object.keys(metadata.labels).length > 0 && { labels: sortedMap(metadata.labels) }),
      ...(metadata.annotations &&
        Object.keys(metadata.annotations).length > 0 && { annotations: sortedMap(metadata.annotations) }),
    },
    spec: {
      podSelector: canonicalSelector(spec.podSelector),
      policyTypes: policyTypesOf(policy),
      ...(spec.ingress && {
        ingress: spec.ingress.map((r) => ({
          ...(r.from && { from: r.from.map(canonicalPeer) }),
          ...(r.ports && { ports: r.ports.map(canonicalPort) }),
        })),
      }),
      ...(spec.egress && {
        egress: spec.egress.map((r) => ({
          ...(r.to && { to: r.to.map(canonicalPeer) }),
          ...(r.ports && { ports: r.ports.map(canonicalPort) }),
        })),
      }),
    },
  };
  return stringify(doc, { lineWidth: 0 });
}

/** Several policies as one multi-document YAML file, in the order given. */
export function renderPoliciesYaml(policies: readonly NetworkPolicy[]): string {
  return policies.map(renderPolicyYaml).join('---\n');
}
