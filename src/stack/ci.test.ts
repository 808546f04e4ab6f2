import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isRampartError } from '../platform/errors.ts';
import { parseStack } from './index.ts';

const FILE = '/srv/shop/rampart.yaml';
const stackWith = (ci: string) => `version: 1
name: shop
services:
  api:
    command: [node, server.js]
    ci:
${ci
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
`;

describe('services.<name>.ci', () => {
  it('GIVEN a gitlab block WHEN resolved THEN the credential file is absolute and the rule has its defaults', () => {
    const stack = parseStack({
      text: stackWith(
        'gitlab:\n  url: https://gitlab.example.com/\n  project: 42\n  token: { fromFile: ./ci-token }',
      ),
      file: FILE,
      environment: 'prod',
    });
    assert.deepEqual(stack.services[0]!.ci, {
      target: {
        kind: 'gitlab',
        url: 'https://gitlab.example.com',
        project: '42',
        ref: 'main',
        token: { fromFile: '/srv/shop/ci-token' },
      },
      when: { severity: 'high', fixAvailable: true, loaded: 'any', production: true, maxPerHour: 10 },
    });
  });

  it('GIVEN a github block with a rule WHEN resolved THEN the rule is kept', () => {
    const stack = parseStack({
      text: stackWith(
        'github:\n  repo: acme/api\n  workflow: fix.yml\n  token: { fromEnv: GH_TOKEN }\nwhen: { severity: critical, loaded: loaded }',
      ),
      file: FILE,
      environment: 'prod',
    });
    const ci = stack.services[0]!.ci!;
    assert.equal(ci.target.kind, 'github');
    assert.deepEqual([ci.when.severity, ci.when.loaded], ['critical', 'loaded']);
  });

  it('GIVEN two pipelines or an unknown severity WHEN parsed THEN the error names the field and the fix', () => {
    const problem = (ci: string) => {
      try {
        parseStack({ text: stackWith(ci), file: FILE, environment: 'prod' });
      } catch (error) {
        assert.ok(isRampartError(error));
        return { field: error.details.field, fix: error.details.fix };
      }
      assert.fail('expected an error');
    };
    assert.deepEqual(
      problem(
        'webhook: { url: https://ci.test/h, secret: { fromEnv: S } }\ngithub: { repo: a/b, workflow: f.yml, token: { fromEnv: T } }',
      ),
      { field: 'services.api.ci', fix: 'give exactly one of gitlab, github or webhook' },
    );
    assert.deepEqual(
      problem('webhook: { url: https://ci.test/h, secret: { fromEnv: S } }\nwhen: { severity: severe }'),
      {
        field: 'services.api.ci.when.severity',
        fix: 'use one of critical, high, moderate, low, unknown',
      },
    );
  });
});
