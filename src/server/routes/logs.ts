import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { RampartError } from '../../platform/errors.ts';
import { ndjson } from '../ndjson.ts';
import type { ControlPlane } from '../control-plane.ts';

const LogsQuery = z.object({
  environment: z.string().min(1),
  service: z.string().optional(),
  namespace: z.string().optional(),
  since: z.coerce.number().int().nonnegative().optional(),
  tail: z.coerce.number().int().positive().optional(),
  follow: z.enum(['true', 'false']).optional(),
});

const EventsQuery = z.object({
  environment: z.string().optional(),
  after: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().positive().max(10_000).optional(),
});

export function registerLogRoutes(app: FastifyInstance, cp: ControlPlane): void {
  app.get('/v1/logs', async (req, reply) => {
    const parsed = LogsQuery.safeParse(req.query);
    if (!parsed.success) {
      throw new RampartError(
        'RAMPART_E_BAD_REQUEST',
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
    }
    const q = parsed.data;
    const filter = {
      environment: q.environment,
      service: q.service,
      namespace: q.namespace,
      sinceTime: q.since,
      tail: q.tail,
    };
    const out = ndjson(reply);
    for (const line of await cp.logs(filter)) out.send(line);
    if (q.follow !== 'true') return out.end();
    const off = cp.onLog((line) => {
      if (line.environment !== q.environment) return;
      if (q.service && line.service !== q.service) return;
      if (q.namespace && line.namespace !== q.namespace) return;
      out.send(line);
    });
    reply.raw.on('close', off);
  });

  app.get('/v1/events', async (req) => {
    const q = EventsQuery.parse(req.query);
    return { events: await cp.events({ environment: q.environment, afterId: q.after, limit: q.limit }) };
  });
}
