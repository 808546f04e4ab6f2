import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { errorBody } from '../app.ts';
import { ndjson } from '../ndjson.ts';
import type { ControlPlane } from '../control-plane.ts';
import { envName, parse } from './validate.ts';

const UpBody = z.strictObject({
  file: z.string().min(1),
  environment: envName,
  clientEnv: z.record(z.string(), z.string()).default({}),
});
const DownBody = z.strictObject({ environment: envName });
const RestartBody = z.strictObject({
  environment: envName,
  namespace: z.string().optional(),
  service: z.string().min(1),
});
const EnvQuery = z.object({ environment: envName.optional() });
const ConfigQuery = z.object({
  environment: envName,
  namespace: z.string().optional(),
  service: z.string().min(1),
});

/** Long operations stream progress lines, then `{ type: 'done' }` or `{ type: 'error', error }`. */
export function registerStackRoutes(app: FastifyInstance, cp: ControlPlane): void {
  app.post('/v1/up', async (req, reply) => {
    const body = parse(UpBody, req.body);
    const out = ndjson(reply);
    try {
      await cp.up(body, (message) => out.send({ type: 'progress', message }));
      out.send({ type: 'done', replicas: cp.ps({ environment: body.environment }) });
    } catch (error) {
      out.send({ type: 'error', error: errorBody(error) });
    }
    out.end();
  });

  app.post('/v1/down', async (req, reply) => {
    const body = parse(DownBody, req.body);
    const out = ndjson(reply);
    try {
      await cp.down(body, (message) => out.send({ type: 'progress', message }));
      out.send({ type: 'done' });
    } catch (error) {
      out.send({ type: 'error', error: errorBody(error) });
    }
    out.end();
  });

  app.post('/v1/restart', async (req, reply) => {
    const body = parse(RestartBody, req.body);
    const out = ndjson(reply);
    try {
      await cp.restart(body, (message) => out.send({ type: 'progress', message }));
      out.send({ type: 'done' });
    } catch (error) {
      out.send({ type: 'error', error: errorBody(error) });
    }
    out.end();
  });

  app.get('/v1/replicas', async (req) => ({ replicas: cp.ps(parse(EnvQuery, req.query)) }));
  app.get('/v1/environments', async () => ({ environments: cp.environments() }));
  app.get('/v1/config', async (req) => ({ entries: await cp.config(parse(ConfigQuery, req.query)) }));
}
