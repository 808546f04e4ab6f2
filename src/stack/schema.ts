import { z } from 'zod';
import { parseDuration } from '../platform/clock.ts';
import { DNS_LABEL_PATTERN, MAX_DNS_LABEL, envNameProblem } from '../platform/names.ts';
import { describeValue, didYouMean, isPlainObject } from './problems.ts';

/**
 * The stack file's shape. Objects are strict (unknown keys are errors); leaves are checked by small
 * functions that return a message and a fix, so every error tells the user what to write instead.
 * Cross-references (port names, dependsOn, database users) are checked in checks.ts.
 */

// `value?: never` keeps TypeScript from inferring `T | undefined` from the error branch's object literal.
type Checked<T> = { value: T } | { message: string; fix: string; value?: never };
type Check<T> = (value: unknown) => Checked<T>;

/** A leaf whose check owns the whole message, including "is required" (`example` shows the fix). */
function leaf<T>(example: string, check: Check<T>) {
  const schema = z.unknown().transform((input, ctx): T => {
    const result: Checked<T> =
      input === undefined ? { message: 'is required', fix: `add it, e.g. ${example}` } : check(input);
    if (!('message' in result)) return result.value;
    ctx.addIssue({ code: 'custom', message: result.message, params: { fix: result.fix }, input });
    return z.NEVER;
  });
  // z.unknown() runs the transform on a missing key, so our "is required" message wins, but it types
  // the key as optional; the cast restores "required unless .optional()", which is what happens at runtime.
  return schema as unknown as z.ZodPipe<z.ZodCustom<unknown>, z.ZodTransform<T, unknown>>;
}

/** A record key check: the problem points at the key itself. */
function key(check: (key: string) => { message: string; fix: string } | undefined) {
  return z.string().transform((input, ctx) => {
    const problem = check(input);
    if (problem)
      ctx.addIssue({
        code: 'custom',
        message: problem.message,
        params: { fix: problem.fix, anchor: 'key' },
        input,
      });
    return input;
  });
}

function integer(min: number, max: number, example: string) {
  return leaf(example, (v) => {
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return { value: v };
    const quoted = typeof v === 'string' && /^\d+$/.test(v.trim());
    return {
      message: `expected a whole number from ${min} to ${max}, got ${describeValue(v)}`,
      fix: quoted ? 'remove the quotes' : `write a whole number from ${min} to ${max}, e.g. ${example}`,
    };
  });
}

function text(example: string) {
  return leaf(example, (v) =>
    typeof v === 'string' && v.trim() !== ''
      ? { value: v }
      : { message: `expected a non-empty string, got ${describeValue(v)}`, fix: `write it like ${example}` },
  );
}

function oneOf<const T extends string>(noun: string, allowed: readonly T[], example: string) {
  return leaf(example, (v) => {
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return { value: v as T };
    const shown = typeof v === 'string' ? `'${v}'${didYouMean(v, allowed)}` : describeValue(v);
    return { message: `unknown ${noun} ${shown}`, fix: `use one of ${allowed.join(', ')}` };
  });
}

function patterned(opts: {
  example: string;
  what: string;
  problem: (s: string) => string | undefined;
  fix: string;
}) {
  return leaf(opts.example, (v) => {
    if (typeof v !== 'string') {
      return {
        message: `expected ${opts.what}, got ${describeValue(v)}`,
        fix: `write it like ${opts.example}`,
      };
    }
    const problem = opts.problem(v);
    return problem === undefined ? { value: v } : { message: `'${v}' ${problem}`, fix: opts.fix };
  });
}

/** Why `name` is not a DNS label (RFC 1123, as Kubernetes names), or undefined. */
export function dnsLabelProblem(name: string): string | undefined {
  if (name.length > MAX_DNS_LABEL)
    return `is ${name.length} characters; names allow at most ${MAX_DNS_LABEL}`;
  if (!DNS_LABEL_PATTERN.test(name)) return 'is not a DNS label';
  return undefined;
}

export function dnsLabelFix(name: string): string {
  const suggestion = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_DNS_LABEL)
    .replace(/-+$/, '');
  const example = suggestion !== '' && suggestion !== name ? `, e.g. '${suggestion}'` : '';
  return `use at most ${MAX_DNS_LABEL} lowercase letters, digits and '-', starting and ending with a letter or digit${example}`;
}

const dnsName = (example: string) =>
  leaf(example, (v) => {
    if (typeof v !== 'string')
      return { message: `expected a name, got ${describeValue(v)}`, fix: `write it like ${example}` };
    const problem = dnsLabelProblem(v);
    return problem === undefined ? { value: v } : { message: `'${v}' ${problem}`, fix: dnsLabelFix(v) };
  });

const dnsKey = key((k) => {
  const problem = dnsLabelProblem(k);
  return problem === undefined ? undefined : { message: `name '${k}' ${problem}`, fix: dnsLabelFix(k) };
});

const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envVarFix = 'use letters, digits and _, not starting with a digit';
const envVarKey = key((k) =>
  ENV_VAR_NAME.test(k)
    ? undefined
    : { message: `'${k}' is not a valid environment variable name`, fix: envVarFix },
);

/** Kubernetes IANA_SVC_NAME: what a named port may be called. */
function portNameProblem(name: string): string | undefined {
  if (name.length > 15) return `is ${name.length} characters; port names allow at most 15`;
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name) || name.includes('--')) {
    return "may hold only lowercase letters, digits and single '-', starting and ending with a letter or digit";
  }
  if (!/[a-z]/.test(name)) return 'needs at least one letter';
  return undefined;
}

/** Kubernetes label syntax: `[prefix/]name`, name and value at most 63 characters. */
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
function labelKeyProblem(k: string): string | undefined {
  const slash = k.lastIndexOf('/');
  const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
  const name = slash >= 0 ? k.slice(slash + 1) : k;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return 'has an invalid prefix';
  if (name.length > 63 || !LABEL_NAME.test(name)) return 'is not a valid label name';
  return undefined;
}
const labelFix =
  "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";

const labelsSchema = z.record(
  key((k) => {
    const problem = labelKeyProblem(k);
    return problem === undefined ? undefined : { message: `label key '${k}' ${problem}`, fix: labelFix };
  }),
  leaf('tier: web', (v) => {
    const value = typeof v === 'number' || typeof v === 'boolean' ? String(v) : v;
    if (typeof value !== 'string')
      return { message: `expected a label value, got ${describeValue(v)}`, fix: 'write a string' };
    if (value === '' || (value.length <= 63 && LABEL_NAME.test(value))) return { value };
    return { message: `label value '${value}' is not valid`, fix: labelFix };
  }),
);

const envSchema = z.record(
  envVarKey,
  leaf('KEY: value', (v) =>
    typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
      ? { value: String(v) }
      : {
          message: `expected a string, number or boolean, got ${describeValue(v)}`,
          fix: "write a plain value; use '' for empty",
        },
  ),
);

/** rc splits env var names on `__` to nest keys, so a key holding `__` could not round-trip. */
function configKeyProblems(
  tree: Record<string, unknown>,
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  for (const [k, v] of Object.entries(tree)) {
    if (k.includes('__') || k.includes('=') || k === '') {
      ctx.addIssue({
        code: 'custom',
        path: [...path, k],
        message: `config key '${k}' cannot be empty or hold '__' or '=' (rc nests keys on '__')`,
        params: { fix: 'rename the key or nest it as a mapping', anchor: 'key' },
      });
    }
    if (isPlainObject(v)) configKeyProblems(v, [...path, k], ctx);
  }
}
const configSchema = z
  .record(z.string(), z.unknown())
  .superRefine((tree, ctx) => configKeyProblems(tree, [], ctx));

const duration = (example: string) =>
  leaf(example, (v) => {
    const ms = typeof v === 'string' ? parseDuration(v) : v === 0 ? 0 : undefined;
    if (ms !== undefined) return { value: ms };
    const bare = typeof v === 'number' ? ` (a bare number has no unit)` : '';
    return {
      message: `expected a duration, got ${describeValue(v)}${bare}`,
      fix: `write a number with a unit (ms, s, m, h), e.g. ${example}`,
    };
  });

/** A port named in `ports` or a port number; resolved against the service's ports in checks.ts. */
export type PortRef = string | number;
const portRef = leaf<PortRef>('port: http', (v) =>
  (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535) ||
  (typeof v === 'string' && v !== '')
    ? { value: v }
    : {
        message: `expected a port name or a number from 1 to 65535, got ${describeValue(v)}`,
        fix: 'name a port from ports, e.g. port: http',
      },
);

const portSchema = z.strictObject({
  name: patterned({
    example: 'name: http',
    what: 'a port name',
    problem: portNameProblem,
    fix: "use up to 15 lowercase letters, digits and '-', e.g. http",
  }),
  port: integer(1, 65535, 'port: 8080'),
  protocol: oneOf('protocol', ['TCP', 'UDP'], 'protocol: TCP').default('TCP'),
});

const portsSchema = z.array(portSchema).superRefine((ports, ctx) => {
  const seenPorts = new Map<string, number>();
  const seenNames = new Map<string, number>();
  ports.forEach((p, i) => {
    const first = seenPorts.get(`${p.port}/${p.protocol}`);
    if (first !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [i, 'port'],
        message: `duplicate port ${p.port}/${p.protocol}, already declared at ports[${first}]`,
        params: { fix: 'remove one of them or change its port or protocol' },
      });
    } else seenPorts.set(`${p.port}/${p.protocol}`, i);
    const firstName = seenNames.get(p.name);
    if (firstName !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [i, 'name'],
        message: `duplicate port name '${p.name}', already used by ports[${firstName}]`,
        params: { fix: 'give each port its own name' },
      });
    } else seenNames.set(p.name, i);
  });
});

const healthSchema = z
  .strictObject({
    http: z
      .strictObject({
        path: patterned({
          example: 'path: /healthz',
          what: 'a URL path',
          problem: (s) => (s.startsWith('/') ? undefined : "must start with '/'"),
          fix: 'write it like path: /healthz',
        }),
        port: portRef,
      })
      .optional(),
    tcp: z.strictObject({ port: portRef }).optional(),
    interval: duration('interval: 2s').default(2000),
    timeout: duration('timeout: 1s').default(1000),
    healthyThreshold: integer(1, 100, 'healthyThreshold: 1').default(1),
    unhealthyThreshold: integer(1, 100, 'unhealthyThreshold: 3').default(3),
    startPeriod: duration('startPeriod: 10s').default(0),
  })
  .superRefine((h, ctx) => {
    if ((h.http === undefined) === (h.tcp === undefined)) {
      const found = h.http === undefined ? 'neither' : 'both';
      ctx.addIssue({
        code: 'custom',
        message: `needs exactly one of http or tcp, found ${found}`,
        params: {
          fix:
            found === 'both'
              ? 'keep only one of http and tcp'
              : 'add http: { path: /healthz, port: http } or tcp: { port: <port> }',
        },
      });
    }
  });

const secretSchema = z
  .strictObject({
    fromEnv: patterned({
      example: 'fromEnv: API_KEY',
      what: 'an environment variable name',
      problem: (s) => (ENV_VAR_NAME.test(s) ? undefined : 'is not a valid environment variable name'),
      fix: envVarFix,
    }).optional(),
    fromFile: text('fromFile: ./secrets/key.txt').optional(),
    generate: integer(8, 256, 'generate: 32').optional(),
  })
  .superRefine((s, ctx) => {
    const sources = Object.keys(s);
    if (sources.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          sources.length === 0 ? 'has no source' : `has ${sources.length} sources (${sources.join(', ')})`,
        params: { fix: 'give exactly one of fromEnv, fromFile or generate' },
      });
    }
  });

const dataClass = dnsName('reads: [pii]');

const commandSchema = leaf('command: [node, server.js]', (v) => {
  if (typeof v === 'string') {
    const words = v
      .trim()
      .split(/\s+/)
      .filter((w) => w !== '');
    return {
      message: 'expected a list of strings, got a string',
      fix: `write it as a list: [${words.join(', ')}]`,
    };
  }
  if (!Array.isArray(v) || v.length === 0)
    return {
      message: `expected a non-empty list of strings, got ${describeValue(v)}`,
      fix: 'write it like command: [node, server.js]',
    };
  const bad = v.findIndex((w) => typeof w !== 'string' || w === '');
  if (bad >= 0)
    return {
      message: `command[${bad}] is ${describeValue(v[bad])}, not a non-empty string`,
      fix: 'quote it or remove it',
    };
  return { value: v as string[] };
});

export const NETWORKS = ['app', 'db'] as const;

export const serviceSchema = z.strictObject({
  command: commandSchema,
  workdir: text('workdir: ./web').optional(),
  replicas: integer(0, 64, 'replicas: 2').default(1),
  app: patterned({
    example: 'app: web',
    what: 'an rc app name',
    problem: (s) =>
      /^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(s) && !s.includes('__')
        ? undefined
        : "may hold only letters, digits, '-' and single '_'",
    fix: 'write it like app: web',
  }).optional(),
  namespace: dnsName('namespace: shop').optional(),
  ports: portsSchema.default([]),
  networks: z
    .array(oneOf('network', NETWORKS, 'networks: [app]'))
    .min(1)
    .default(['app']),
  labels: labelsSchema.default({}),
  health: healthSchema.optional(),
  env: envSchema.default({}),
  config: configSchema.default({}),
  secrets: z.record(envVarKey, secretSchema).default({}),
  data: z
    .strictObject({ reads: z.array(dataClass).default([]), emits: z.array(dataClass).default([]) })
    .default({ reads: [], emits: [] }),
  publish: z
    .array(z.strictObject({ port: portRef, hostPort: integer(1, 65535, 'hostPort: 8080') }))
    .default([]),
  dependsOn: z.array(text('dependsOn: [api]')).default([]),
  stopTimeout: duration('stopTimeout: 10s').default(10_000),
});
export type ServiceInput = z.output<typeof serviceSchema>;

export const ENGINES = ['postgres', 'cockroachdb'] as const;
export const databaseSchema = z.strictObject({
  engine: oneOf('database engine', ENGINES, 'engine: postgres'),
  users: z.array(text('users: [api]')).default([]),
  namespace: dnsName('namespace: shop').optional(),
  port: integer(1, 65535, 'port: 5432').optional(),
});
export type DatabaseInput = z.output<typeof databaseSchema>;

export const namespaceSchema = z.strictObject({ labels: labelsSchema.default({}) }).nullable();

export const overlayServiceSchema = z
  .strictObject({
    replicas: integer(0, 64, 'replicas: 1').optional(),
    env: envSchema.optional(),
    config: configSchema.optional(),
    labels: labelsSchema.optional(),
  })
  .nullable();
export type OverlayServiceInput = NonNullable<z.output<typeof overlayServiceSchema>>;
/** `environments.<env>`; each of its services is then checked with overlayServiceSchema. */
export const overlaySchema = z
  .strictObject({ services: z.record(z.string(), z.unknown()).nullable().optional() })
  .nullable();

export const dataRuleSchema = z.strictObject({
  forbid: leaf('forbid: [credit-bureau, device-behavior]', (v) => {
    const ok =
      Array.isArray(v) &&
      v.length === 2 &&
      v.every((c) => typeof c === 'string' && dnsLabelProblem(c) === undefined) &&
      v[0] !== v[1];
    return ok
      ? { value: [v[0], v[1]] as [string, string] }
      : {
          message: `expected two different data class names, got ${Array.isArray(v) ? `[${v.join(', ')}]` : describeValue(v)}`,
          fix: 'write it like forbid: [credit-bureau, device-behavior]',
        };
  }),
  reason: text('reason: "why these must not meet"').optional(),
});
export type DataRuleInput = z.output<typeof dataRuleSchema>;

/** Parses an IPv4 CIDR, requiring host bits to be zero so the pool is what the user thinks it is. */
function cidrProblem(v: string): { message: string; fix: string } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  if (!m || octets.some((o) => o > 255))
    return { message: `'${v}' is not an IPv4 CIDR`, fix: 'write it like cidr: 198.18.0.0/15' };
  const prefix = Number(m[5]);
  if (prefix > 20)
    return {
      message: `prefix /${prefix} is too small a pool`,
      fix: 'use a prefix of /20 or shorter, e.g. 198.18.0.0/15',
    };
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  const network = address - (address % size);
  if (network === address) return undefined;
  const start = [24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join('.');
  return { message: `'${v}' has host bits set`, fix: `use ${start}/${prefix}` };
}

/** Why an environment name cannot name kernel objects, split into what is wrong and what to do. */
export function envNameIssue(env: string): { message: string; fix: string } | undefined {
  const problem = envNameProblem(env);
  if (problem === undefined) return undefined;
  const cut = problem.lastIndexOf('; ');
  return cut < 0
    ? { message: `environment name '${env}' ${problem}`, fix: 'rename the environment, e.g. staging' }
    : { message: `environment name '${env}' is ${problem.slice(0, cut)}`, fix: problem.slice(cut + 2) };
}

const envKey = key(envNameIssue);
const section = (keys: z.ZodType<string, string>) => z.record(keys, z.unknown()).nullable().optional();

/** The top level; each entry of the sections is validated on its own so one bad service hides nothing. */
export const rootSchema = z.strictObject({
  version: leaf('version: 1', (v) =>
    v === 1
      ? { value: 1 as const }
      : {
          message: `unsupported version ${typeof v === 'number' ? v : describeValue(v)}`,
          fix: 'write version: 1',
        },
  ),
  name: dnsName('name: shop'),
  network: z
    .strictObject({
      cidr: leaf('cidr: 198.18.0.0/15', (v) =>
        typeof v === 'string'
          ? (cidrProblem(v) ?? { value: v })
          : { message: `expected a CIDR, got ${describeValue(v)}`, fix: 'write it like cidr: 198.18.0.0/15' },
      ).optional(),
    })
    .nullable()
    .optional(),
  namespaces: section(dnsKey),
  environments: section(envKey),
  services: section(dnsKey),
  databases: section(dnsKey),
  dataRules: z.array(z.unknown()).nullable().optional(),
});
