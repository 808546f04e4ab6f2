import { randomBytes } from 'node:crypto';
import type { ResolvedService } from '../stack/index.ts';
import type { Store } from '../store/index.ts';

/** Document kinds (store `documents`): one per release made, one per deploy attempted. */
export const RELEASE_KIND = 'delivery.release';
export const DEPLOY_KIND = 'delivery.deploy';

export interface ReleaseRecord {
  /** `<namespace>/<name>` */
  service: string;
  id: string;
  /** The resolved service as it ran from this release (workdir inside the release). */
  spec: ResolvedService;
  createdAt: number;
}

export type DeployOutcome = 'succeeded' | 'rolled-back' | 'failed' | 'no-op' | 'dry-run' | 'running';

export interface DeployRecord {
  id: string;
  environment: string;
  time: number;
  /** Who asked: a token's name (`root` for the daemon token), and through what (cli, api, rollback). */
  actor: string;
  via: string;
  kind: 'deploy' | 'rollback' | 'env-create';
  /** Services the deploy changed, with their releases. */
  services: { service: string; from?: string; to?: string; change: string }[];
  outcome: DeployOutcome;
  message: string;
  finishedAt?: number;
}

type Docs = Pick<Store, 'putDocument' | 'getDocument' | 'listDocuments'>;

export async function recordRelease(
  store: Docs,
  environment: string,
  r: ReleaseRecord,
  now: number,
): Promise<void> {
  const docKey = `${r.service}/${r.id}`;
  if (await store.getDocument(RELEASE_KIND, environment, docKey)) return;
  await store.putDocument({ kind: RELEASE_KIND, environment, key: docKey, value: r }, now);
}

export async function listReleases(
  store: Docs,
  environment: string,
  service: string,
): Promise<ReleaseRecord[]> {
  return (await store.listDocuments(RELEASE_KIND, environment))
    .map((d) => d.value as ReleaseRecord)
    .filter((r) => r.service === service)
    .sort((a, b) => a.createdAt - b.createdAt);
}

/** A new audit record (sortable key: time, then a random suffix). */
export function newDeployRecord(
  r: Omit<DeployRecord, 'id' | 'outcome' | 'message'> & Partial<Pick<DeployRecord, 'outcome' | 'message'>>,
): DeployRecord {
  const id = `${String(r.time).padStart(15, '0')}-${randomBytes(3).toString('hex')}`;
  return { outcome: 'running', message: '', ...r, id };
}

export async function putDeployRecord(store: Docs, r: DeployRecord, now: number): Promise<void> {
  await store.putDocument({ kind: DEPLOY_KIND, environment: r.environment, key: r.id, value: r }, now);
}

/** Deploys of an environment, newest first; of one service when given (`name` or `<ns>/<name>`). */
export async function listDeploys(
  store: Docs,
  environment: string,
  service?: string,
): Promise<DeployRecord[]> {
  const all = (await store.listDocuments(DEPLOY_KIND, environment)).map((d) => d.value as DeployRecord);
  const mine = service
    ? all.filter((r) => r.services.some((s) => s.service === service || s.service.endsWith(`/${service}`)))
    : all;
  return mine.sort((a, b) => b.time - a.time || b.id.localeCompare(a.id));
}
