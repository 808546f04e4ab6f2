import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  FIREWALL_MODES,
  renderComplianceMarkdown,
  renderCoverage,
  renderPoliciesYaml,
  renderReplayReport,
  type FirewallManager,
  type StoredPolicy,
} from '../../firewall/index.ts';
import { ndjson } from '../ndjson.ts';
import type { ControlPlane } from '../control-plane.ts';
import { parse } from './validate.ts';

const Env = z.object({ environment: z.string().min(1) });
const PolicyText = z.strictObject({
  environment: z.string().min(1),
  text: z.string().min(1),
  file: z.string().default('<request>'),
});
const ModeBody = z.strictObject({
  environment: z.string().min(1),
  mode: z.enum(FIREWALL_MODES as ['learn', 'monitor', 'protect']),
  services: z.array(z.string().min(1)).default([]),
});
const AlertsQuery = z.object({
  environment: z.string().min(1),
  since: z.coerce.number().int().nonnegative().optional(),
  follow: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().positive().max(10_000).optional(),
});

/** One stored policy as GET /v1/policies lists it (the dashboard reads it: web-types.check.ts). */
export function policyAnswer(p: StoredPolicy) {
  return {
    namespace: p.policy.metadata.namespace,
    name: p.policy.metadata.name,
    source: p.source,
    appliedAt: p.appliedAt,
    policy: p.policy,
  };
}

/** GET /v1/firewall: modes, coverage (as data and as text) and rule usage (web-types.check.ts). */
export async function firewallState(f: FirewallManager) {
  const coverage = await f.coverage();
  return {
    modes: f.getModes(),
    coverage,
    coverageText: renderCoverage(coverage),
    rules: await f.rules(),
  };
}

/** NetworkPolicies, modes, learning, replay, alerts and the data-protection proof. */
export function registerFirewallRoutes(app: FastifyInstance, cp: ControlPlane): void {
  app.get('/v1/policies', async (req) => {
    const { environment } = parse(Env, req.query);
    const policies = await cp.withFirewall(environment, (f) => f.listPolicies());
    return { policies: policies.map(policyAnswer) };
  });

  app.get('/v1/policies/:namespace/:name', async (req, reply) => {
    const { environment } = parse(Env, req.query);
    const { namespace, name } = req.params as { namespace: string; name: string };
    const yaml = await cp.withFirewall(environment, (f) => f.getPolicyYaml(namespace, name));
    return reply.type('application/yaml').send(yaml);
  });

  app.post('/v1/policies', async (req) => {
    const body = parse(PolicyText, req.body);
    return cp.withFirewall(body.environment, (f) => f.applyPolicyText(body.text, body.file));
  });

  app.delete('/v1/policies/:namespace/:name', async (req) => {
    const { environment } = parse(Env, req.query);
    const { namespace, name } = req.params as { namespace: string; name: string };
    await cp.withFirewall(environment, (f) => f.deletePolicy(namespace, name));
    return { deleted: `${namespace}/${name}` };
  });

  app.get('/v1/policies/propose', async (req, reply) => {
    const { environment } = parse(Env, req.query);
    const { yaml } = await cp.withFirewall(environment, (f) => f.propose());
    return reply.type('application/yaml').send(yaml);
  });

  app.get('/v1/policies/diff', async (req, reply) => {
    const { environment } = parse(Env, req.query);
    return reply.type('text/plain').send(await cp.withFirewall(environment, (f) => f.diff()));
  });

  // A replay changes nothing: whoever may read the policies may run it.
  app.post('/v1/policies/test', { config: { permission: 'read' } }, async (req) => {
    const body = parse(PolicyText, req.body);
    const report = await cp.withFirewall(body.environment, (f) => f.test(body.text, body.file));
    return { report, text: renderReplayReport(report) };
  });

  app.get('/v1/firewall', async (req) => {
    const { environment } = parse(Env, req.query);
    return cp.withFirewall(environment, firewallState);
  });

  app.post('/v1/firewall/mode', async (req) => {
    const body = parse(ModeBody, req.body);
    return { modes: await cp.withFirewall(body.environment, (f) => f.setMode(body.mode, body.services)) };
  });

  app.get('/v1/alerts', async (req, reply) => {
    const q = parse(AlertsQuery, req.query);
    const f = cp.firewall(q.environment);
    const alerts = await f.alerts({ since: q.since, limit: q.limit });
    if (q.follow !== 'true') return { alerts };
    const out = ndjson(reply);
    for (const a of [...alerts].reverse()) out.send({ type: 'alert', alert: a });
    const off = f.subscribeAlerts((e) => out.send({ type: e.type, alert: e.alert }));
    reply.raw.on('close', off);
  });

  app.get('/v1/compliance', async (req, reply) => {
    const q = parse(
      z.object({ environment: z.string().min(1), format: z.enum(['json', 'markdown']).default('json') }),
      req.query,
    );
    const report = await cp.withFirewall(q.environment, (f) => f.compliance());
    if (q.format === 'markdown') return reply.type('text/markdown').send(renderComplianceMarkdown(report));
    return report;
  });

  app.get('/v1/policies.yaml', async (req, reply) => {
    const { environment } = parse(Env, req.query);
    const policies = await cp.withFirewall(environment, (f) => f.listPolicies());
    return reply.type('application/yaml').send(renderPoliciesYaml(policies.map((p) => p.policy)));
  });
}
