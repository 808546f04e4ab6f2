import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { systemClock } from '../../platform/clock.ts';
import { RampartError } from '../../platform/errors.ts';
import type { ResolvedStack } from '../../stack/index.ts';
import {
  VulnManager,
  releasesFromStacks,
  renderCycloneDx,
  resolveVulnConfig,
  type ResolvedVulnConfig,
} from '../../vuln/index.ts';
import type { ControlPlane } from '../control-plane.ts';
import { envName, parse } from './validate.ts';

const FindingsQuery = z.object({
  environment: envName.optional(),
  state: z.enum(['open', 'triggered', 'deployed', 'resolved']).optional(),
});
const SbomQuery = z.object({ environment: envName, service: z.string().min(1) });
const RescanBody = z.strictObject({ environment: envName.optional() }).default({});

/** GET /v1/vuln/findings: findings, releases and the advisory source's state (web-types.check.ts). */
export async function findingsAnswer(
  manager: VulnManager,
  config: ResolvedVulnConfig,
  q: z.infer<typeof FindingsQuery>,
) {
  return {
    findings: await manager.findings(q),
    releases: manager.releaseStatus().filter((r) => !q.environment || r.environment === q.environment),
    advisories: {
      source: config.advisoryPath ?? null,
      count: manager.advisoryCount,
      problems: manager.problems,
    },
    ...(manager.lastError && { error: manager.lastError }),
  };
}

/** Events after which a service may run a new release: the manager re-scans that environment. */
const DEPLOY_EVENTS = /^(stack\.up|deploy|rollback)/;

/**
 * Vulnerability findings of the running releases (docs/vulnerabilities.md). The manager is built here
 * from the daemon's resolved settings (RAMPART_ADVISORIES, RAMPART_ADVISORIES_URL, RAMPART_VULN_POLL)
 * and runs only when an advisory source is configured; `secretsEnv` is where `ci:` secrets come from.
 */
export function registerVulnRoutes(
  app: FastifyInstance,
  cp: ControlPlane,
  settings: { config: ResolvedVulnConfig; secretsEnv: Readonly<Record<string, string | undefined>> } = {
    config: resolveVulnConfig({}),
    secretsEnv: {},
  },
): VulnManager {
  const { config } = settings;
  const manager = new VulnManager({
    store: cp.store,
    clock: systemClock,
    releases: releasesFromStacks(async () =>
      (await cp.store.listDeployments()).map((d) => d.spec as ResolvedStack),
    ),
    ...(config.advisoryPath && { advisoryPath: config.advisoryPath }),
    ...(config.advisoryUrl && { advisoryUrl: config.advisoryUrl }),
    refreshMs: config.refreshMs,
    pollMs: config.pollMs,
    env: settings.secretsEnv,
    emit: (e) => cp.emit({ ...e, time: Date.now() }),
  });
  if (config.advisoryPath) {
    let unsubscribe: (() => void) | undefined;
    app.addHook('onReady', async () => {
      manager.start();
      unsubscribe = cp.onEvent((e) => {
        if (DEPLOY_EVENTS.test(e.kind) && e.environment) manager.noteDeployed(e.environment);
      });
    });
    app.addHook('onClose', async () => {
      unsubscribe?.();
      manager.stop();
      await manager.idle();
    });
  }

  app.get('/v1/vuln/findings', async (req) => {
    return findingsAnswer(manager, config, parse(FindingsQuery, req.query));
  });

  app.get('/v1/vuln/findings/:id', async (req) => {
    const { id } = req.params as { id: string };
    const finding = await manager.finding(id);
    if (!finding)
      throw new RampartError('RAMPART_E_NOT_FOUND', `no finding ${id}`, {
        fix: 'list them with `rampart vuln ls`',
      });
    return { finding };
  });

  app.get('/v1/vuln/alerts', async (req) => {
    const q = parse(z.object({ environment: envName }), req.query);
    return { alerts: await manager.alerts(q.environment) };
  });

  app.get('/v1/vuln/sbom', async (req) => {
    const q = parse(SbomQuery, req.query);
    const inv = manager.inventory(q.environment, q.service);
    if (!inv) {
      throw new RampartError(
        'RAMPART_E_NOT_FOUND',
        `no scanned release of ${q.service} in ${q.environment}`,
        {
          fix: 'check the service name; its folder needs a lockfile and RAMPART_ADVISORIES must be set on the daemon',
        },
      );
    }
    return renderCycloneDx(inv, { timestamp: new Date().toISOString() });
  });

  app.post('/v1/vuln/rescan', { config: { permission: 'write' } }, async (req) => {
    const body = parse(RescanBody, req.body ?? {});
    if (body.environment) manager.noteDeployed(body.environment);
    await manager.tick();
    return { findings: await manager.findings(body.environment ? { environment: body.environment } : {}) };
  });

  return manager;
}
