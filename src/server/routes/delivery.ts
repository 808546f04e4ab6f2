import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { errorBody } from '../app.ts';
import { ndjson } from '../ndjson.ts';
import type { Actor, DeliveryService } from '../delivery.ts';
import { envName, parse } from './validate.ts';

const DeployBody = z.strictObject({
  /** Path of the stack file on the daemon's host (a CI job runs there and sends its checkout's path). */
  file: z.string().min(1),
  services: z.array(z.string().min(1)).default([]),
  dryRun: z.boolean().default(false),
  overlay: envName.optional(),
  /** What started it, for the audit (e.g. `gitlab-ci job 1234 on main`). */
  via: z.string().max(200).optional(),
});
const EnvParams = z.object({ env: envName });
const RollbackBody = z.strictObject({
  service: z.string().min(1),
  to: z.string().optional(),
  via: z.string().max(200).optional(),
});
const HistoryQuery = z.object({ service: z.string().optional() });
const CreateEnvBody = z.strictObject({
  /** The new environment's name (named `environment` so that a deployer token's scope applies). */
  environment: envName,
  from: envName.optional(),
  file: z.string().min(1).optional(),
  overlay: envName.optional(),
  portOffset: z.number().int().min(1).max(60000).optional(),
  via: z.string().max(200).optional(),
});

const actorOf = (req: FastifyRequest, via: string | undefined, fallback: string): Actor => ({
  name: req.principal?.name ?? 'unknown',
  via: via ?? fallback,
});

/** Streams progress lines, then `{ type: 'done', ... }` or `{ type: 'error', error }` (as /v1/up does). */
async function streamed(
  reply: Parameters<typeof ndjson>[0],
  run: (progress: (message: string) => void) => Promise<Record<string, unknown>>,
): Promise<void> {
  const out = ndjson(reply);
  try {
    const result = await run((message) => out.send({ type: 'progress', message }));
    out.send({ type: 'done', ...result });
  } catch (error) {
    out.send({ type: 'error', error: errorBody(error) });
  }
  out.end();
}

/** Deploys, rollbacks, history and environments (docs/delivery.md). */
export function registerDeliveryRoutes(app: FastifyInstance, delivery: DeliveryService): void {
  app.post('/v1/environments/:env/deploy', { config: { permission: 'deploy' } }, async (req, reply) => {
    const { env } = parse(EnvParams, req.params);
    const body = parse(DeployBody, req.body);
    await streamed(reply, async (progress) => {
      const r = await delivery.deploy({ ...body, environment: env }, progress, actorOf(req, body.via, 'api'));
      return { plan: r.plan, record: r.record };
    });
  });

  app.post('/v1/environments/:env/rollback', { config: { permission: 'deploy' } }, async (req, reply) => {
    const { env } = parse(EnvParams, req.params);
    const body = parse(RollbackBody, req.body);
    await streamed(reply, async (progress) => ({
      record: await delivery.rollback({ environment: env, ...body }, progress, actorOf(req, body.via, 'api')),
    }));
  });

  app.get('/v1/environments/:env/history', async (req) => {
    const { env } = parse(EnvParams, req.params);
    const q = parse(HistoryQuery, req.query);
    return { deploys: await delivery.history({ environment: env, service: q.service }) };
  });

  app.get('/v1/environment-list', async () => ({ environments: await delivery.listEnvironments() }));

  // Creating an environment is a deploy to it: a deployer scoped to `name` may create it.
  app.post('/v1/environments', { config: { permission: 'deploy' } }, async (req, reply) => {
    const body = parse(CreateEnvBody, req.body);
    await streamed(reply, async (progress) => ({
      record: await delivery.createEnvironment(
        { ...body, name: body.environment },
        progress,
        actorOf(req, body.via, 'api'),
      ),
    }));
  });

  // POST, not DELETE: it streams progress like the other long operations (write permission).
  app.post('/v1/environments/:env/destroy', async (req, reply) => {
    const { env } = parse(EnvParams, req.params);
    await streamed(reply, async (progress) => {
      await delivery.destroyEnvironment({ name: env }, progress);
      return {};
    });
  });
}
