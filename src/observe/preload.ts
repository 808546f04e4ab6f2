import { fileURLToPath } from 'node:url';

/** Absolute path of the tracing preload (CommonJS, so `--require` loads it in CJS and ESM services). */
export function preloadPath(): string {
  return fileURLToPath(new URL('./preload/register.cjs', import.meta.url));
}

export interface PreloadOptions {
  /** OTLP/HTTP base URL the replica can reach (its network namespace!); `/v1/traces` is appended. */
  endpoint: string;
  service: string;
  environment: string;
  namespace: string;
  replica: number | string;
  /** Sent with every export, e.g. `{ authorization: 'Bearer …' }`. */
  headers?: Record<string, string>;
  /** The service's own NODE_OPTIONS, kept after the preload. */
  nodeOptions?: string;
  /** Request paths that get no span (the health check Rampart probes every few seconds). */
  ignorePaths?: readonly string[];
}

function quoteOption(path: string): string {
  // NODE_OPTIONS splits on spaces unless the value is double-quoted.
  return /[\s"\\]/.test(path) ? JSON.stringify(path) : path;
}

/**
 * The environment a Node replica needs for tracing without code changes. The preload reads the
 * standard OTEL_EXPORTER_OTLP_* variables and Rampart's RAMPART_* ones.
 */
export function preloadEnvironment(o: PreloadOptions): Record<string, string> {
  const env: Record<string, string> = {
    NODE_OPTIONS: `--require ${quoteOption(preloadPath())}${o.nodeOptions ? ` ${o.nodeOptions}` : ''}`,
    OTEL_EXPORTER_OTLP_ENDPOINT: o.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_SERVICE_NAME: o.service,
    RAMPART_SERVICE: o.service,
    RAMPART_ENVIRONMENT: o.environment,
    RAMPART_NAMESPACE: o.namespace,
    RAMPART_REPLICA: String(o.replica),
  };
  if (o.ignorePaths && o.ignorePaths.length > 0) env.RAMPART_TRACE_IGNORE_PATHS = o.ignorePaths.join(',');
  if (o.headers && Object.keys(o.headers).length > 0) {
    env.OTEL_EXPORTER_OTLP_HEADERS = Object.entries(o.headers)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join(',');
  }
  return env;
}
