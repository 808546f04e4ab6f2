import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { RampartError } from '../../platform/errors.ts';
import type { ResolvedStack } from '../../stack/index.ts';
import type { ControlPlane } from '../control-plane.ts';

type Deployment = Awaited<ReturnType<ControlPlane['store']['listDeployments']>>[number];
type ReplicaStatus = ReturnType<ControlPlane['ps']>[number];

/** Where `npm run build:web` writes the dashboard (web/dist, not committed). */
export const DASHBOARD_DIST = fileURLToPath(new URL('../../../web/dist/', import.meta.url));

export interface DashboardRouteOptions {
  /** The built dashboard. @default DASHBOARD_DIST */
  distDir?: string;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.map': 'application/json',
};
// Vite's hashed asset names: no slash, no dot-dot, nothing else to resolve.
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/**
 * `GET /` answers browsers (Accept: text/html) with the dashboard, while the same path keeps
 * answering Elasticsearch clients (the observe routes' root) with JSON: find-my-way picks the
 * constrained route only when the request asks for HTML.
 */
const ACCEPTS_HTML: Parameters<FastifyInstance['addConstraintStrategy']>[0] = {
  name: 'dashboardHtml',
  mustMatchWhenDerived: false,
  storage() {
    const routes = new Map<unknown, any>();
    return {
      get: (k) => routes.get(k) ?? null,
      set: (k, v) => void routes.set(k, v),
    };
  },
  deriveConstraint: (req) => {
    const accept = req.headers.accept;
    return typeof accept === 'string' && accept.includes('text/html') ? 'html' : undefined;
  },
};

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Rampart</title>
<body style="font:16px system-ui;margin:3rem"><h1>The dashboard is not built</h1>
<p>Run <code>npm run build:web</code> in the Rampart checkout, then reload.</p></body></html>`;

/**
 * The web dashboard: its static files without a token (they hold no data; every /v1 call the page
 * makes carries the token), and the one read the map needs that no other route gives: the flows
 * the firewall learned.
 */
export function registerDashboardRoutes(
  app: FastifyInstance,
  cp: ControlPlane,
  opts: DashboardRouteOptions = {},
): void {
  const dist = opts.distDir ?? DASHBOARD_DIST;
  if (!app.hasConstraintStrategy(ACCEPTS_HTML.name)) app.addConstraintStrategy(ACCEPTS_HTML);

  const sendIndex = async (reply: FastifyReply) => {
    const file = join(dist, 'index.html');
    reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8');
    if (!existsSync(file)) return reply.code(503).send(NOT_BUILT);
    return reply.send(await readFile(file));
  };
  app.route({
    method: 'GET',
    url: '/',
    constraints: { [ACCEPTS_HTML.name]: 'html' },
    config: { public: true },
    handler: async (_req, reply) => sendIndex(reply),
  });
  app.get('/index.html', { config: { public: true } }, async (_req, reply) => sendIndex(reply));

  const sendStatic = async (name: string, reply: FastifyReply, immutable: boolean) => {
    if (!ASSET_NAME.test(name)) throw new RampartError('RAMPART_E_NOT_FOUND', `no dashboard file ${name}`);
    const path = join(dist, immutable ? 'assets' : '', name);
    let body: Buffer;
    try {
      body = await readFile(path);
    } catch {
      throw new RampartError('RAMPART_E_NOT_FOUND', `no dashboard file ${name}`);
    }
    return reply
      .type(TYPES[extname(name)] ?? 'application/octet-stream')
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .send(body);
  };
  app.get<{ Params: { file: string } }>('/assets/:file', { config: { public: true } }, async (req, reply) =>
    sendStatic(req.params.file, reply, true),
  );
  app.get('/favicon.svg', { config: { public: true } }, async (_req, reply) =>
    sendStatic('favicon.svg', reply, false),
  );

  app.get('/v1/dashboard/flows', { config: { permission: 'read' } }, async (req) => {
    const q = z.object({ environment: z.string().min(1) }).safeParse(req.query);
    if (!q.success)
      throw new RampartError('RAMPART_E_BAD_REQUEST', 'environment: required', { field: 'environment' });
    const environment = q.data.environment;
    if (!cp.environments().includes(environment))
      throw new RampartError('RAMPART_E_NO_STACK', `nothing runs in environment ${environment}`);
    return { edges: await cp.firewall(environment).learnedEdges() };
  });

  // The environments with what each service runs: its release (null when it runs from its folder,
  // i.e. brought up by `rampart up` rather than deployed), desired and running replicas, and how the
  // environment was made (`env create`'s options; null for `up`/`deploy`). The deploys, environments
  // and map views read it; /v1/environment-list has no per-service detail.
  app.get('/v1/dashboard/environments', { config: { permission: 'read' } }, async () => {
    const replicas = cp.ps({});
    const deployments = await cp.store.listDeployments();
    const environments = await Promise.all(deployments.map((d) => environmentInfo(cp, d, replicas)));
    return { environments };
  });
}

/**
 * One environment of GET /v1/dashboard/environments: its stack and how it was made, and per service
 * its release, desired, running and healthy replicas (web-types.check.ts).
 */
export async function environmentInfo(cp: ControlPlane, d: Deployment, replicas: readonly ReplicaStatus[]) {
  const spec = d.spec as ResolvedStack;
  const created = await cp.store.getDocument('delivery.environment', d.environment, 'created');
  const mine = replicas.filter((r) => r.environment === d.environment);
  return {
    name: d.environment,
    stack: spec.name,
    file: d.stackFile,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    source: (created?.value as { from?: string; overlay?: string; portOffset?: number } | undefined) ?? null,
    services: spec.services.map((s) => {
      const own = mine.filter((r) => r.namespace === s.namespace && r.service === s.name);
      return {
        service: `${s.namespace}/${s.name}`,
        release: s.release?.id ?? null,
        replicas: s.replicas,
        running: own.filter((r) => r.state === 'running').length,
        healthy: own.filter((r) => r.state === 'running' && (r.health === 'none' || r.healthy)).length,
      };
    }),
  };
}
