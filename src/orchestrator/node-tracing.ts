import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preloadPath } from '../observe/index.ts';
import { OTLP_GATEWAY_PORT } from '../platform/ports.ts';

/** What every Node replica gets preloaded through NODE_OPTIONS. */
export interface NodePreloads {
  /** The tracing preload (`src/observe/preload/register.cjs`); left out for `tracing: false`. */
  tracing: string;
  /** Preloads every Node replica gets, traced or not (e.g. the vulnerability module recorder). */
  always: readonly string[];
  /** Where the control plane receives OTLP/HTTP on the bridges' gateways. @default 4318 */
  otlpPort: number;
}

/**
 * Other capabilities' preloads, in the order they load. A file that does not exist (yet) is
 * skipped, so a preload is enabled by creating it: `src/vuln/preload/modules.cjs` records the
 * modules a replica loads (the vulnerability issue). `.mjs` files are loaded with `--import`,
 * others with `--require`.
 */
export const OPTIONAL_NODE_PRELOADS: readonly string[] = [
  fileURLToPath(new URL('../vuln/preload/modules.cjs', import.meta.url)),
];

/** The preloads as installed on this host (checks which optional ones exist, at call time). */
export function installedNodePreloads(): NodePreloads {
  return {
    tracing: preloadPath(),
    always: OPTIONAL_NODE_PRELOADS.filter((p) => existsSync(p)),
    otlpPort: OTLP_GATEWAY_PORT,
  };
}

const NODE_BINARIES = new Set(['node', 'nodejs', 'tsx', 'ts-node', 'ts-node-esm']);
const SCRIPT = /\.(c|m)?(j|t)s$/;

/**
 * Whether a command runs Node: `node …`, `tsx …`, `npx tsx …`, or a `.js/.mjs/.cjs/.ts` entry run
 * directly (a shebang script). Package managers (`npm start`) are not: they would trace themselves.
 */
export function runsNode(command: readonly string[]): boolean {
  const [first, second] = command;
  if (!first) return false;
  const bin = basename(first);
  if (NODE_BINARIES.has(bin) || /^node\d+$/.test(bin)) return true;
  if (bin === 'npx' || bin === 'pnpx') {
    const tool = command.slice(1).find((a) => !a.startsWith('-'));
    return tool !== undefined && NODE_BINARIES.has(basename(tool));
  }
  if (bin === 'env' && second) return runsNode(command.slice(1));
  return SCRIPT.test(bin);
}

function quoteOption(path: string): string {
  // NODE_OPTIONS splits on spaces unless the value is double-quoted.
  return /[\s"\\]/.test(path) ? JSON.stringify(path) : path;
}

const preloadOption = (path: string): string =>
  `${path.endsWith('.mjs') ? '--import' : '--require'} ${quoteOption(path)}`;

export interface NodeTracingInput {
  preloads: NodePreloads;
  command: readonly string[];
  /** `false` opts the service out of tracing (the `always` preloads stay). */
  tracing: boolean;
  /** The service's own env (its NODE_OPTIONS and OTEL_RESOURCE_ATTRIBUTES are kept). */
  serviceEnv: Readonly<Record<string, string>>;
  /** The bridge gateway this replica reaches (its first network's). */
  gateway: string;
  environment: string;
  namespace: string;
  service: string;
  replica: number;
  replicaId: string;
  /** The health check path: probed every few seconds, not worth a span. */
  healthPath?: string;
}

/** Pure: the env a Node replica gets for tracing without code changes; `{}` for other commands. */
export function nodeTracingEnv(i: NodeTracingInput): Record<string, string> {
  if (!runsNode(i.command)) return {};
  const requires = [...(i.tracing ? [i.preloads.tracing] : []), ...i.preloads.always];
  if (requires.length === 0) return {};
  const own = i.serviceEnv.NODE_OPTIONS?.trim();
  const env: Record<string, string> = {
    NODE_OPTIONS: [...requires.map(preloadOption), ...(own ? [own] : [])].join(' '),
  };
  if (!i.tracing) return { ...env, RAMPART_TRACING: 'off' };
  const attributes = [
    i.serviceEnv.OTEL_RESOURCE_ATTRIBUTES,
    `rampart.environment=${encodeURIComponent(i.environment)}`,
    `rampart.namespace=${encodeURIComponent(i.namespace)}`,
    `rampart.replica=${i.replica}`,
    `rampart.replica_id=${encodeURIComponent(i.replicaId)}`,
    `deployment.environment.name=${encodeURIComponent(i.environment)}`,
    `service.namespace=${encodeURIComponent(i.namespace)}`,
  ].filter(Boolean);
  return {
    ...env,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://${i.gateway}:${i.preloads.otlpPort}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_SERVICE_NAME: i.service,
    OTEL_RESOURCE_ATTRIBUTES: attributes.join(','),
    ...(i.healthPath && { RAMPART_TRACE_IGNORE_PATHS: i.healthPath }),
  };
}
