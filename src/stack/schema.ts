import { z } from 'zod';
import {
  ENV_VAR_NAME,
  cidrProblem,
  configSchema,
  dnsKey,
  dnsLabelProblem,
  dnsName,
  duration,
  envKey,
  envSchema,
  envVarFix,
  envVarKey,
  integer,
  key,
  labelsSchema,
  leaf,
  oneOf,
  patterned,
  portNameProblem,
  portRef,
  scalarText,
  text,
} from './fields.ts';
import { describeValue } from './problems.ts';
import { ciSchema } from './ci.ts';

/**
 * The stack file's shape. Objects are strict (unknown keys are errors); leaves are checked by small
 * functions that return a message and a fix, so every error tells the user what to write instead.
 * Cross-references (port names, dependsOn, database users) are checked in checks.ts.
 */

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
  // The service's CI pipeline, triggered to fix a vulnerability (docs/vulnerabilities.md).
  ci: ciSchema.optional(),
  // Node services get OpenTelemetry tracing injected; `tracing: false` opts out.
  tracing: z.boolean().default(true),
  // Rolling updates (docs/delivery.md): replicas started above `replicas`, and replicas that may be
  // out of the load balancer, while a new release replaces an old one.
  deploy: z
    .strictObject({
      maxSurge: integer(0, 64, 'maxSurge: 1').default(1),
      maxUnavailable: integer(0, 64, 'maxUnavailable: 0').default(0),
      drainTimeout: duration('drainTimeout: 10s').default(10_000),
      healthTimeout: duration('healthTimeout: 30s').default(30_000),
    })
    .refine((d) => d.maxSurge + d.maxUnavailable > 0, {
      message: 'maxSurge and maxUnavailable cannot both be 0 (the update could never make progress)',
      params: { fix: 'write maxSurge: 1' },
    })
    .optional(),
});
export type ServiceInput = z.output<typeof serviceSchema>;

export const ENGINES = ['postgres', 'cockroachdb'] as const;

/** Server settings Rampart sets itself (where the server listens, who may connect): not the stack's. */
export const RESERVED_POSTGRES_PARAMETERS = [
  'listen_addresses',
  'port',
  'unix_socket_directories',
  'hba_file',
  'ident_file',
  'config_file',
  'data_directory',
] as const;

/** A PostgreSQL setting's name as `postgres -c` takes it (`shared_buffers`, `auto_explain.log_min_duration`). */
const postgresParameterName = key((k) => {
  if (!/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/.test(k))
    return {
      message: `'${k}' is not a PostgreSQL setting name`,
      fix: 'use the name as postgresql.conf spells it, e.g. shared_buffers',
    };
  if ((RESERVED_POSTGRES_PARAMETERS as readonly string[]).includes(k))
    return {
      message: `'${k}' is set by Rampart (where the server listens and who may connect)`,
      fix: `remove ${k}: Rampart sets it for the environment's database network`,
    };
  return undefined;
});

/**
 * PostgreSQL settings (postgresql.conf names), passed to the server as `-c name=value`, like
 * CloudNativePG's `postgresql.parameters`. A change restarts the database with the new settings.
 */
const postgresParameters = z.record(
  postgresParameterName,
  leaf('shared_buffers: 512MB', (v) => {
    const value = scalarText(v);
    if (value === undefined)
      return {
        message: `expected a string, number or boolean, got ${describeValue(v)}`,
        fix: 'write the value as postgresql.conf takes it, e.g. shared_buffers: 512MB',
      };
    if (value === '' || /[\0\n\r]/.test(value))
      return {
        message: value === '' ? 'is empty' : 'holds a line break or NUL',
        fix: 'write one value on one line, e.g. shared_buffers: 512MB, or remove the setting',
      };
    return { value };
  }),
);

/** Cross-field: `parameters` only with engine postgres (checks.ts). */
export const databaseSchema = z.strictObject({
  engine: oneOf('database engine', ENGINES, 'engine: postgres'),
  users: z.array(text('users: [api]')).default([]),
  namespace: dnsName('namespace: shop').optional(),
  port: integer(1, 65535, 'port: 5432').optional(),
  parameters: postgresParameters.default({}),
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
