import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { modelWorld } from './golden/model.ts';
import { isFirewallMode, modeByAddress, modeOfPod, withMode, type FirewallModes } from './modes.ts';

describe('firewall modes', () => {
  const modes: FirewallModes = { global: 'monitor', perService: { 'x/a': 'protect', 'y/b': 'learn' } };

  it('GIVEN a global mode and overrides THEN a pod takes its service’s override, else the global mode', () => {
    assert.equal(modeOfPod({ namespace: 'x', service: 'a' }, modes), 'protect');
    assert.equal(modeOfPod({ namespace: 'y', service: 'a' }, modes), 'monitor', 'same name, other namespace');
    assert.equal(modeOfPod({ namespace: 'y', service: 'b' }, modes), 'learn');
  });

  it('GIVEN the model world THEN every pod address maps to its pod’s mode', () => {
    const byIp = modeByAddress(modelWorld(), modes);
    assert.equal(byIp.size, 6);
    assert.equal(byIp.get('198.18.16.10'), 'protect');
    assert.equal(byIp.get('198.18.16.14'), 'learn');
    assert.equal(byIp.get('198.18.16.15'), 'monitor');
  });

  it('GIVEN withMode for services THEN they get an override, or lose it when it equals the global mode', () => {
    assert.deepEqual(withMode(modes, 'protect', ['y/c']).perService, {
      'x/a': 'protect',
      'y/b': 'learn',
      'y/c': 'protect',
    });
    assert.deepEqual(withMode(modes, 'monitor', ['x/a']).perService, { 'y/b': 'learn' });
  });

  it('GIVEN withMode without services THEN the global mode changes and overrides equal to it disappear', () => {
    assert.deepEqual(withMode(modes, 'protect'), { global: 'protect', perService: { 'y/b': 'learn' } });
  });

  it('GIVEN strings THEN only the three modes are modes', () => {
    assert.deepEqual(['learn', 'monitor', 'protect', 'enforce', 3].map(isFirewallMode), [
      true,
      true,
      true,
      false,
      false,
    ]);
  });
});
