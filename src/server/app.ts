import Fastify, { type FastifyInstance } from 'fastify';
import { RampartError, isRampartError } from '../platform/errors.ts';
import { systemClock } from '../platform/clock.ts';
import { TokenRegistry, registerAuth } from './auth.ts';
import { endOpenStreams } from './ndjson.ts';
import type { ControlPlane } from './control-plane.ts';
import { registerDashboardRoutes } from './routes/dashboard.ts';
import type { DeliveryService } from './delivery.ts';
import { registerDeliveryRoutes } from './routes/delivery.ts';
import { registerFirewallRoutes } from './routes/firewall.ts';
import { registerLogRoutes } from './routes/logs.ts';
import { registerObserveRoutes, type ObserveRouteDeps } from './routes/observe.ts';
import { registerStackRoutes } from './routes/stack.ts';
import { registerVulnRoutes } from './routes/vuln.ts';

export interface AppOptions {
  controlPlane: ControlPlane;
  /** The daemon's (admin) API token; every route but public ones requires `Authorization: Bearer <token>`. */
  token: string;
  /** Named tokens with roles (auth.ts); built on the control plane's store when not given. */
  tokens?: TokenRegistry;
  /** Observability (OTLP, `_bulk`, traces, map, metrics, logs); the daemon always gives it. */
  observe?: ObserveRouteDeps;
  /** Deploys, rollbacks, history, environments (delivery); the daemon always gives it. */
  delivery?: DeliveryService;
  /** Advisory source and the environment `ci:` secrets come from; no vulnerability scanning without it. */
  vuln?: Parameters<typeof registerVulnRoutes>[2];
}

/** Builds the HTTP API without listening (tests inject requests; serve.ts listens). */
export function buildApp(opts: AppOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });

  registerAuth(
    app,
    opts.tokens ??
      new TokenRegistry({ store: opts.controlPlane.store, clock: systemClock, rootToken: opts.token }),
  );

  app.setErrorHandler((error, _req, reply) => {
    if (isRampartError(error)) return reply.code(error.status).send({ error: error.toJSON() });
    const fe = error as { validation?: unknown; statusCode?: number; message: string };
    if (fe.validation || fe.statusCode === 400) {
      const e = new RampartError('RAMPART_E_BAD_REQUEST', fe.message);
      return reply.code(400).send({ error: e.toJSON() });
    }
    return reply.code(500).send({ error: errorBody(error) });
  });

  app.addHook('preClose', async () => endOpenStreams(app));
  app.get('/v1/healthz', { config: { public: true } }, async () => ({ ok: true }));
  // Each capability mounts its routes here, in one visible list.
  registerStackRoutes(app, opts.controlPlane);
  registerLogRoutes(app, opts.controlPlane);
  registerFirewallRoutes(app, opts.controlPlane);
  registerDashboardRoutes(app, opts.controlPlane);
  if (opts.observe) registerObserveRoutes(app, opts.observe);
  registerVulnRoutes(app, opts.controlPlane, opts.vuln);
  if (opts.delivery) registerDeliveryRoutes(app, opts.delivery);
  return app;
}

export function errorBody(error: unknown): {
  code: string;
  message: string;
  hint: string;
  details?: unknown;
} {
  if (isRampartError(error)) return error.toJSON();
  // The hint sends the user to the daemon log: the stack must be there.
  process.stderr.write(
    `${new Date().toISOString()} internal error: ${(error as Error)?.stack ?? String(error)}\n`,
  );
  return new RampartError('RAMPART_E_INTERNAL', (error as Error).message).toJSON();
}
