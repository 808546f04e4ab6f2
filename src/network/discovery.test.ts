import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { discoveryEnv, discoveryHosts, renderHostsFile, type DiscoveryMember } from './discovery.ts';

const members: DiscoveryMember[] = [
  {
    namespace: 'shop',
    name: 'web',
    networks: ['app'],
    vip: '198.18.28.2',
    ports: [{ port: 80, protocol: 'TCP' }],
  },
  {
    namespace: 'shop',
    name: 'order-api',
    networks: ['app', 'db'],
    vip: '198.18.28.3',
    ports: [
      { port: 8080, protocol: 'TCP' },
      { port: 9090, protocol: 'TCP' },
    ],
  },
  {
    namespace: 'shop',
    name: 'ledger',
    networks: ['db'],
    vip: '198.18.30.3',
    ports: [{ port: 7000, protocol: 'UDP' }],
  },
  {
    namespace: 'shop',
    name: 'pg',
    networks: ['db'],
    vip: '198.18.30.2',
    ports: [{ port: 5432, protocol: 'TCP' }],
  },
];

describe('renderHostsFile', () => {
  it('GIVEN an app-only replica WHEN rendering THEN only app-VIP members are named and the database is absent', () => {
    assert.equal(
      renderHostsFile({ networks: ['app'], namespace: 'shop', members }),
      [
        '127.0.0.1 localhost',
        '::1 localhost',
        '198.18.28.3 order-api order-api.shop',
        '198.18.28.2 web web.shop',
        '',
      ].join('\n'),
    );
  });

  it('GIVEN a replica on app and db WHEN rendering THEN every member is named', () => {
    assert.deepEqual(
      discoveryHosts({ networks: ['app', 'db'], namespace: 'shop', members }).map((e) => e.names[0]),
      ['ledger', 'order-api', 'pg', 'web'],
    );
  });

  it('GIVEN a db-only replica WHEN rendering THEN a service on app and db is not named (its VIP is on app)', () => {
    assert.deepEqual(
      discoveryHosts({ networks: ['db'], namespace: 'shop', members }).map((e) => e.address),
      ['198.18.30.3', '198.18.30.2'],
    );
  });

  it('GIVEN two namespaces with a service of the same name THEN the plain name means the replica’s own namespace', () => {
    const twins: DiscoveryMember[] = [
      { namespace: 'a', name: 'cache', networks: ['app'], vip: '198.18.28.10', ports: [] },
      { namespace: 'b', name: 'cache', networks: ['app'], vip: '198.18.28.11', ports: [] },
    ];
    assert.deepEqual(discoveryHosts({ networks: ['app'], namespace: 'b', members: twins }), [
      { address: '198.18.28.10', names: ['cache.a'] },
      { address: '198.18.28.11', names: ['cache', 'cache.b'] },
    ]);
    // From a third namespace the plain name is ambiguous: only qualified names resolve.
    assert.deepEqual(
      discoveryHosts({ networks: ['app'], namespace: 'c', members: twins }).map((e) => e.names),
      [['cache.a'], ['cache.b']],
    );
    assert.deepEqual(discoveryEnv({ networks: ['app'], namespace: 'c', members: twins }), {});
  });
});

describe('discoveryEnv', () => {
  it('GIVEN an app-only replica THEN HOST is the VIP and PORT the first declared port, for reachable members only', () => {
    assert.deepEqual(discoveryEnv({ networks: ['app'], namespace: 'shop', members }), {
      ORDER_API_HOST: '198.18.28.3',
      ORDER_API_PORT: '8080',
      WEB_HOST: '198.18.28.2',
      WEB_PORT: '80',
    });
  });

  it('GIVEN a member without ports THEN only its HOST is set', () => {
    const env = discoveryEnv({
      networks: ['app'],
      namespace: 'x',
      members: [{ namespace: 'x', name: 'worker', networks: ['app'], vip: '198.18.28.9', ports: [] }],
    });
    assert.deepEqual(env, { WORKER_HOST: '198.18.28.9' });
  });
});
