import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { decideResponse, planTrigger } from './index.ts';
import type { Finding } from './index.ts';
import type { ResolvedCi } from '../stack/index.ts';

const finding: Finding = {
  key: 'GHSA-xvch-5gv4-984h:minimist@1.2.5',
  package: 'minimist',
  version: '1.2.5',
  paths: ['node_modules/minimist'],
  advisory: 'GHSA-xvch-5gv4-984h',
  aliases: ['CVE-2021-44906'],
  summary: 'Prototype Pollution in minimist',
  severity: 'critical',
  score: 9.8,
  fixedVersion: '1.2.6',
  production: true,
  loaded: true,
  evidence: 'pid 1 loaded it',
  malicious: false,
};
const ctx = { environment: 'prod', service: 'api', findingId: 'abc123' };
const when: ResolvedCi['when'] = {
  severity: 'high',
  fixAvailable: true,
  loaded: 'any',
  production: true,
  maxPerHour: 10,
};

describe('CI trigger requests', () => {
  it('GIVEN a GitHub target WHEN planned THEN it is a workflow_dispatch with the ref and lower-case inputs', () => {
    const req = planTrigger(
      {
        kind: 'github',
        url: 'https://api.github.com',
        repo: 'acme/api',
        workflow: 'fix.yml',
        ref: 'main',
        token: { fromEnv: 'GH' },
      },
      'ghp_x',
      finding,
      ctx,
      0,
    );
    assert.equal(req.url, 'https://api.github.com/repos/acme/api/actions/workflows/fix.yml/dispatches');
    assert.equal(req.headers.authorization, 'Bearer ghp_x');
    const body = JSON.parse(req.body) as { ref: string; inputs: Record<string, string> };
    assert.equal(body.ref, 'main');
    assert.equal(body.inputs.rampart_package, 'minimist');
    assert.equal(body.inputs.rampart_fixed_version, '1.2.6');
  });

  it('GIVEN a webhook target WHEN planned THEN X-Rampart-Signature is the HMAC-SHA256 of the exact body', () => {
    const req = planTrigger(
      { kind: 'webhook', url: 'https://ci.test/hook', secret: { fromEnv: 'S' } },
      's3cret',
      finding,
      ctx,
      Date.UTC(2026, 10, 26),
    );
    const expected = `sha256=${createHmac('sha256', 's3cret').update(req.body).digest('hex')}`;
    assert.equal(req.headers['x-rampart-signature'], expected);
    assert.equal(
      (JSON.parse(req.body) as { variables: Record<string, string> }).variables.RAMPART_ADVISORY,
      'GHSA-xvch-5gv4-984h',
    );
  });
});

describe('response rule', () => {
  const ci: ResolvedCi = {
    target: { kind: 'webhook', url: 'https://ci.test', secret: { fromEnv: 'S' } },
    when,
  };

  it('GIVEN findings of each kind WHEN decided THEN severity, fix, production and loaded rules apply in that order', () => {
    assert.equal(decideResponse(finding, ci).action, 'trigger');
    const { fixedVersion: _fixed, ...noFix } = finding;
    assert.equal(decideResponse(noFix, ci).action, 'alert-no-fix');
    assert.equal(decideResponse(noFix, { ...ci, when: { ...when, fixAvailable: false } }).action, 'trigger');
    assert.equal(decideResponse({ ...finding, production: false }, ci).action, 'alert');
    assert.equal(decideResponse({ ...finding, severity: 'moderate' }, ci).action, 'alert');
    assert.equal(
      decideResponse({ ...finding, loaded: false }, { ...ci, when: { ...when, loaded: 'not-unloaded' } })
        .action,
      'alert',
    );
    assert.equal(
      decideResponse({ ...finding, loaded: 'unknown' }, { ...ci, when: { ...when, loaded: 'not-unloaded' } })
        .action,
      'trigger',
    );
    assert.equal(
      decideResponse({ ...finding, loaded: 'unknown' }, { ...ci, when: { ...when, loaded: 'loaded' } })
        .action,
      'alert',
    );
    assert.deepEqual(decideResponse(finding, undefined), {
      action: 'alert',
      reason: 'the service has no ci block to trigger',
    });
  });
});
