/**
 * The fraud stack file adapted for a test or benchmark run: absolute workdirs (the copy is written
 * elsewhere), a free host port instead of 8080, and an overlay for the run's own environment name
 * (names are random and at most 8 characters, so `environments.test` cannot be used as is).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, parseDocument, type YAMLMap } from 'yaml';

export const FRAUD_STACK_FILE = fileURLToPath(new URL('../rampart.yaml', import.meta.url));
const FRAUD_DIR = fileURLToPath(new URL('..', import.meta.url));

export interface FraudStackOptions {
  environment: string;
  hostPort: number;
  /** Copy this environment's overlay (e.g. `test`, with small seeds) to `environment`. */
  overlayFrom?: string;
  /** Replicas per service, over the overlay. */
  replicas?: Readonly<Record<string, number>>;
  /** Config per service, deep-merged by Rampart over the rest (e.g. seed sizes). */
  config?: Readonly<Record<string, Record<string, unknown>>>;
  /** Environment variables per service, over the overlay (e.g. `NODE_OPTIONS: --cpu-prof`). */
  env?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export function fraudStackText(opts: FraudStackOptions): string {
  const doc = parseDocument(readFileSync(FRAUD_STACK_FILE, 'utf8'));
  const services = doc.get('services') as YAMLMap;
  for (const item of services.items) {
    const svc = item.value as YAMLMap;
    const workdir = svc.get('workdir');
    if (typeof workdir === 'string' && workdir.startsWith('./'))
      svc.set('workdir', `${FRAUD_DIR}${workdir.slice(2)}`);
    const publish = svc.get('publish');
    if (publish)
      svc.set('publish', doc.createNode([{ port: 'http', hostPort: opts.hostPort }], { flow: true }));
  }
  // toJS resolves the file's anchors and aliases (`dev: *small`), a map's own toJSON does not.
  const envs = (
    doc.toJS() as { environments?: Record<string, { services?: Record<string, Record<string, unknown>> }> }
  ).environments;
  const base = opts.overlayFrom && envs ? envs[opts.overlayFrom] : undefined;
  const overlay: Record<string, Record<string, unknown>> = structuredClone(base?.services ?? {});
  for (const [name, replicas] of Object.entries(opts.replicas ?? {}))
    overlay[name] = { ...overlay[name], replicas };
  for (const [name, config] of Object.entries(opts.config ?? {})) {
    overlay[name] = {
      ...overlay[name],
      config: { ...(overlay[name]?.config as object | undefined), ...config },
    };
  }
  for (const [name, env] of Object.entries(opts.env ?? {}))
    overlay[name] = { ...overlay[name], env: { ...(overlay[name]?.env as object | undefined), ...env } };
  // Written out plainly: the original's anchors would now point at nothing we keep.
  doc.set('environments', doc.createNode({ ...envs, [opts.environment]: { services: overlay } }));
  const text = doc.toString({ lineWidth: 0 });
  if (!isMap(doc.contents) || !isScalar(doc.get('name', true)))
    throw new Error('fraud stack file has no name');
  return text;
}
