import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ResolvedService, ResolvedStack } from '../stack/index.ts';
import { formatDeployPlan, planDeploy } from './deploy-plan.ts';

const service = (name: string, over: Partial<ResolvedService> = {}): ResolvedService => ({
  name,
  namespace: 'shop',
  app: name,
  command: ['node', 'server.js'],
  workdir: `/srv/shop/${name}`,
  replicas: 2,
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  networks: ['app'],
  labels: {},
  env: {},
  config: {},
  secrets: [],
  data: { reads: [], emits: [] },
  publish: [],
  dependsOn: [],
  databases: [],
  stopTimeoutMs: 10_000,
  source: { file: '/srv/shop/rampart.yaml', line: 1 },
  release: { id: 'aaaa', source: `/srv/shop/${name}`, dir: '' },
  ...over,
});

const stack = (services: ResolvedService[], over: Partial<ResolvedStack> = {}): ResolvedStack => ({
  name: 'shop',
  environment: 'prod',
  file: '/srv/shop/rampart.yaml',
  dir: '/srv/shop',
  namespaces: [{ name: 'shop', labels: {} }],
  services,
  databases: [],
  dataRules: [{ forbid: ['pii', 'tracking'] }],
  ...over,
});

const slots = { 'shop/web': [0, 1], 'shop/api': [0, 1] };

describe('planDeploy', () => {
  it('GIVEN a new release of one service WHEN planned THEN only it is updated, replica by replica', () => {
    const plan = planDeploy({
      previous: stack([service('web'), service('api')]),
      next: stack([service('web', { release: { id: 'bbbb', source: '', dir: '' } }), service('api')]),
      slots,
    });
    assert.deepEqual(
      plan.services.map((c) => [c.service, c.change, c.release.from, c.release.to, c.fields.join()]),
      [
        ['shop/web', 'updated', 'aaaa', 'bbbb', 'code'],
        ['shop/api', 'unchanged', 'aaaa', 'aaaa', ''],
      ],
    );
    assert.deepEqual(plan.services[0]!.replaced, ['shop/web-0', 'shop/web-1']);
    assert.deepEqual(plan.policiesAffected, []);
    assert.equal(plan.noop, false);
  });

  it('GIVEN the same releases WHEN planned THEN it is a no-op', () => {
    const s = stack([service('web'), service('api')]);
    const plan = planDeploy({ previous: s, next: s, slots });
    assert.equal(plan.noop, true);
    assert.match(formatDeployPlan(plan).join('\n'), /nothing to do/);
  });

  it('GIVEN a service that now reads a data class WHEN planned THEN its policies and the data rule on that class are flagged', () => {
    const plan = planDeploy({
      previous: stack([service('web'), service('api')]),
      next: stack([service('web', { data: { reads: ['pii'], emits: [] } }), service('api')]),
      slots,
    });
    assert.deepEqual(plan.services[0]!.fields, ['data']);
    assert.deepEqual(plan.policiesAffected, ['shop/web']);
    assert.deepEqual(plan.dataRulesAffected, ['pii × tracking']);
  });

  it('GIVEN only a replica count change WHEN planned THEN running replicas are kept and one more starts', () => {
    const plan = planDeploy({
      previous: stack([service('web')]),
      next: stack([service('web', { replicas: 3 })]),
      slots: { 'shop/web': [0, 1] },
    });
    assert.deepEqual(plan.services[0]!.steps, [{ kind: 'start', slots: [2] }]);
    assert.deepEqual(plan.services[0]!.replaced, []);
  });

  it('GIVEN a selected service WHEN another also changed THEN only the selected one is planned', () => {
    const plan = planDeploy({
      previous: stack([service('web'), service('api')]),
      next: stack([
        service('web', { release: { id: 'bbbb', source: '', dir: '' } }),
        service('api', { release: { id: 'cccc', source: '', dir: '' } }),
      ]),
      slots,
      selected: ['api'],
    });
    assert.deepEqual(
      plan.services.map((c) => `${c.service} ${c.release.to}`),
      ['shop/api cccc'],
    );
  });

  it('GIVEN a service removed from the stack WHEN planned THEN its replicas retire', () => {
    const plan = planDeploy({
      previous: stack([service('web'), service('api')]),
      next: stack([service('web')]),
      slots,
    });
    assert.deepEqual(
      plan.services.find((c) => c.service === 'shop/api'),
      {
        service: 'shop/api',
        change: 'removed',
        release: { from: 'aaaa' },
        fields: [],
        replicas: { from: 2, to: 0 },
        replaced: ['shop/api-0', 'shop/api-1'],
        steps: [{ kind: 'retire', slots: [0, 1] }],
      },
    );
  });
});
