import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isRampartError } from '../platform/errors.ts';
import type { RampartError } from '../platform/errors.ts';
import { parseStack } from './index.ts';
import type { StackProblem } from './index.ts';

const FILE = '/srv/demo/rampart.yaml';

/** Strips the common indentation so fixtures can sit indented in the test. */
function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = String.raw({ raw: strings }, ...values).replace(/^\n/, '');
  const indent = Math.min(
    ...text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.search(/\S/)),
  );
  return text
    .split('\n')
    .map((l) => l.slice(indent))
    .join('\n');
}

function parseError(text: string, environment = 'prod'): RampartError {
  try {
    parseStack({ text, file: FILE, environment });
  } catch (error) {
    assert.ok(isRampartError(error), `expected a RampartError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected parseStack to throw');
}

/** GIVEN the text WHEN parsed THEN exactly this one problem is reported, as one formatted line. */
function assertOneProblem(text: string, expected: Omit<StackProblem, 'file'>, environment = 'prod'): void {
  const error = parseError(text, environment);
  assert.equal(error.code, 'RAMPART_E_STACK_INVALID');
  const line = `${FILE}:${expected.line}:${expected.column}: ${expected.field}: ${expected.message}. Fix: ${expected.fix}`;
  assert.equal(error.message, line);
  assert.deepEqual(error.details['problems'], [{ file: FILE, ...expected }]);
  assert.equal(error.details.line, expected.line);
  assert.equal(error.details.column, expected.column);
  assert.equal(error.details.field, expected.field);
  assert.equal(error.details.fix, expected.fix);
}

const header = 'version: 1\nname: demo\n';

describe('parseStack reports bad stack files precisely', () => {
  test('GIVEN a misspelled key WHEN parsed THEN it suggests the closest key', () => {
    assertOneProblem(
      header +
        yaml`
        services:
          web:
            command: [node, server.js]
            replica: 2
        `,
      {
        line: 6,
        column: 5,
        field: 'services.web.replica',
        message: "unknown key 'replica' (did you mean 'replicas'?)",
        fix: "rename it to 'replicas'",
      },
    );
  });

  test('GIVEN an unknown key close to nothing WHEN parsed THEN it lists the allowed keys', () => {
    assertOneProblem(
      header + 'services:\n  web:\n    command: [x]\n    ports: [{ name: http, port: 80, colour: red }]\n',
      {
        line: 6,
        column: 37,
        field: 'services.web.ports[0].colour',
        message: "unknown key 'colour'",
        fix: 'remove it; allowed here: name, port, protocol',
      },
    );
  });

  test('GIVEN replicas: "two" WHEN parsed THEN it names the expected type and what was found', () => {
    assertOneProblem(header + 'services:\n  web:\n    command: [x]\n    replicas: "two"\n', {
      line: 6,
      column: 15,
      field: 'services.web.replicas',
      message: 'expected a whole number from 0 to 64, got the string "two"',
      fix: 'write a whole number from 0 to 64, e.g. replicas: 2',
    });
  });

  test('GIVEN command as a plain string WHEN parsed THEN the fix shows it as a list', () => {
    assertOneProblem(header + 'services:\n  web:\n    command: node server.js\n', {
      line: 5,
      column: 14,
      field: 'services.web.command',
      message: 'expected a list of strings, got a string',
      fix: 'write it as a list: [node, server.js]',
    });
  });

  test('GIVEN a service without command WHEN parsed THEN it points at the service', () => {
    assertOneProblem(header + 'services:\n  web:\n    replicas: 1\n', {
      line: 4,
      column: 3,
      field: 'services.web.command',
      message: 'is required',
      fix: 'add it, e.g. command: [node, server.js]',
    });
  });

  test('GIVEN the same port and protocol twice WHEN parsed THEN the second is a duplicate', () => {
    const ports =
      '    ports:\n      - { name: http, port: 8080 }\n      - { name: alt, port: 8080, protocol: TCP }\n';
    assertOneProblem(header + 'services:\n  web:\n    command: [x]\n' + ports, {
      line: 8,
      column: 28,
      field: 'services.web.ports[1].port',
      message: 'duplicate port 8080/TCP, already declared at ports[0]',
      fix: 'remove one of them or change its port or protocol',
    });
  });

  test('GIVEN two ports with one name WHEN parsed THEN the second name is a duplicate', () => {
    const ports = '    ports:\n      - { name: http, port: 8080 }\n      - { name: http, port: 8081 }\n';
    assertOneProblem(header + 'services:\n  web:\n    command: [x]\n' + ports, {
      line: 8,
      column: 17,
      field: 'services.web.ports[1].name',
      message: "duplicate port name 'http', already used by ports[0]",
      fix: 'give each port its own name',
    });
  });

  test('GIVEN networks: [app, dmz] WHEN parsed THEN the fix lists app and db', () => {
    assertOneProblem(header + 'services:\n  web:\n    command: [x]\n    networks: [app, dmz]\n', {
      line: 6,
      column: 21,
      field: 'services.web.networks[1]',
      message: "unknown network 'dmz'",
      fix: 'use one of app, db',
    });
  });

  test('GIVEN an environments key longer than 8 characters WHEN parsed THEN the bridge name is too long', () => {
    assertOneProblem(header + 'environments:\n  preproduction: {}\nservices:\n  web:\n    command: [x]\n', {
      line: 4,
      column: 3,
      field: 'environments.preproduction',
      message:
        "environment name 'preproduction' is too long for an interface: bridge 'rp-preproduction-app' would be 20 characters, the kernel allows 15",
      fix: 'use at most 8 characters',
    });
  });

  test('GIVEN the environment passed in is too long WHEN parsed THEN the problem names the environment', () => {
    assertOneProblem(
      header + 'services:\n  web:\n    command: [x]\n',
      {
        line: 1,
        column: 1,
        field: 'environment',
        message:
          "environment name 'production' is too long for an interface: bridge 'rp-production-app' would be 17 characters, the kernel allows 15",
        fix: 'use at most 8 characters',
      },
      'production',
    );
  });

  test('GIVEN a service name of 64 characters WHEN parsed THEN it is too long for a DNS label', () => {
    const name = 'a'.repeat(64);
    assertOneProblem(header + `services:\n  ${name}:\n    command: [x]\n`, {
      line: 4,
      column: 3,
      field: `services.${name}`,
      message: `name '${name}' is 64 characters; names allow at most 63`,
      fix: `use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. '${'a'.repeat(63)}'`,
    });
  });

  test('GIVEN a namespace that is not a DNS label WHEN parsed THEN it suggests one', () => {
    assertOneProblem(header + 'services:\n  web:\n    command: [x]\n    namespace: Shop_EU\n', {
      line: 6,
      column: 16,
      field: 'services.web.namespace',
      message: "'Shop_EU' is not a DNS label",
      fix: "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit, e.g. 'shop-eu'",
    });
  });

  test('GIVEN two services publishing one host port WHEN parsed THEN the second is reported', () => {
    const text = yaml`
      services:
        web:
          command: [x]
          ports: [{ name: http, port: 80 }]
          publish: [{ port: http, hostPort: 8080 }]
        api:
          command: [x]
          ports: [{ name: http, port: 80 }]
          publish: [{ port: 80, hostPort: 8080 }]
      `;
    assertOneProblem(header + text, {
      line: 11,
      column: 37,
      field: 'services.api.publish[0].hostPort',
      message: 'host port 8080/TCP is already published by services.web.publish[0]',
      fix: 'choose a host port no other service publishes',
    });
  });

  test('GIVEN a health check naming an unknown port WHEN parsed THEN it suggests the declared one', () => {
    const text =
      'services:\n  web:\n    command: [x]\n    ports: [{ name: http, port: 80 }]\n' +
      '    health: { http: { path: /healthz, port: htp } }\n';
    assertOneProblem(header + text, {
      line: 7,
      column: 45,
      field: 'services.web.health.http.port',
      message: "unknown port name 'htp' (did you mean 'http'?)",
      fix: 'use one of: http',
    });
  });

  test('GIVEN publish naming a port the service lacks WHEN parsed THEN it is reported', () => {
    const text = 'services:\n  web:\n    command: [x]\n    publish: [{ port: admin, hostPort: 9000 }]\n';
    assertOneProblem(header + text, {
      line: 6,
      column: 23,
      field: 'services.web.publish[0].port',
      message: "unknown port name 'admin'",
      fix: 'declare it in services.web.ports',
    });
  });

  test('GIVEN dependsOn naming nothing in the stack WHEN parsed THEN it suggests a target', () => {
    const text = 'services:\n  web:\n    command: [x]\n    dependsOn: [apii]\n  api:\n    command: [x]\n';
    assertOneProblem(header + text, {
      line: 6,
      column: 17,
      field: 'services.web.dependsOn[0]',
      message: "unknown service or database 'apii' (did you mean 'api'?)",
      fix: 'depend on one of: api',
    });
  });

  test('GIVEN a -> b -> a WHEN parsed THEN the cycle is shown once', () => {
    const text =
      'services:\n  a:\n    command: [x]\n    dependsOn: [b]\n  b:\n    command: [x]\n    dependsOn: [a]\n';
    assertOneProblem(header + text, {
      line: 9,
      column: 17,
      field: 'services.b.dependsOn[0]',
      message: 'dependency cycle: a -> b -> a',
      fix: 'remove one of these dependsOn entries so services can start in order',
    });
  });

  test('GIVEN a database user that is not a service WHEN parsed THEN it is reported', () => {
    const text = yaml`
      services:
        api:
          command: [x]
          networks: [app, db]
      databases:
        maindb:
          engine: postgres
          users: [api, worker]
      `;
    assertOneProblem(header + text, {
      line: 10,
      column: 18,
      field: 'databases.maindb.users[1]',
      message: "unknown service 'worker'",
      fix: 'list services of this stack: api',
    });
  });

  test('GIVEN a database parameter Rampart sets itself WHEN parsed THEN it is refused with the reason', () => {
    const text =
      'services:\n  api:\n    command: [x]\n    networks: [app, db]\ndatabases:\n  maindb:\n    engine: postgres\n    users: [api]\n    parameters: { shared_buffers: 512MB, listen_addresses: "*" }\n';
    assertOneProblem(header + text, {
      line: 11,
      column: 42,
      field: 'databases.maindb.parameters.listen_addresses',
      message: "'listen_addresses' is set by Rampart (where the server listens and who may connect)",
      fix: "remove listen_addresses: Rampart sets it for the environment's database network",
    });
  });

  test('GIVEN database parameters of the wrong shape WHEN parsed THEN name and value are each reported', () => {
    const bad = (parameters: string) =>
      parseError(
        header +
          `services:\n  api:\n    command: [x]\n    networks: [app, db]\ndatabases:\n  maindb:\n    engine: postgres\n    users: [api]\n    parameters: ${parameters}\n`,
        'prod',
      ).details['problems'] as StackProblem[];
    assert.deepEqual(
      bad('{ Shared-Buffers: 1GB }').map((p) => p.message),
      ["'Shared-Buffers' is not a PostgreSQL setting name"],
    );
    assert.deepEqual(
      bad('{ work_mem: { size: 4MB } }').map((p) => [p.field, p.message]),
      [['databases.maindb.parameters.work_mem', 'expected a string, number or boolean, got a mapping']],
    );
    assert.deepEqual(
      bad('{ work_mem: "" }').map((p) => p.message),
      ['is empty'],
    );
  });

  test('GIVEN parameters on a CockroachDB database WHEN parsed THEN they are refused', () => {
    const text =
      'services:\n  api:\n    command: [x]\n    networks: [app, db]\ndatabases:\n  maindb:\n    engine: cockroachdb\n    users: [api]\n    parameters: { shared_buffers: 512MB }\n';
    const problems = parseError(header + text, 'prod').details['problems'] as StackProblem[];
    assert.deepEqual(
      problems.map((p) => [p.field, p.message, p.fix]),
      [
        [
          'databases.maindb.parameters',
          'parameters are PostgreSQL settings; engine cockroachdb does not take them',
          'remove parameters, or use engine: postgres',
        ],
      ],
    );
  });

  test('GIVEN a database user off the db network WHEN parsed THEN the fix adds db to its networks', () => {
    const text =
      'services:\n  api:\n    command: [x]\ndatabases:\n  maindb:\n    engine: postgres\n    users: [api]\n';
    assertOneProblem(header + text, {
      line: 9,
      column: 13,
      field: 'databases.maindb.users[0]',
      message: "service 'api' is not on the db network, so it cannot reach the database",
      fix: 'add db to services.api.networks',
    });
  });

  test('GIVEN a service and a database with one name in one namespace WHEN parsed THEN they clash', () => {
    const text = 'services:\n  api:\n    command: [x]\ndatabases:\n  api:\n    engine: postgres\n';
    assertOneProblem(header + text, {
      line: 7,
      column: 3,
      field: 'databases.api',
      message: "database 'api' has the same name as service 'api' in namespace 'prod'",
      fix: 'rename one of them or put them in different namespaces',
    });
  });

  test('GIVEN a secret with no source WHEN parsed THEN it asks for exactly one', () => {
    assertOneProblem(header + 'services:\n  api:\n    command: [x]\n    secrets:\n      apiKey: {}\n', {
      line: 7,
      column: 15,
      field: 'services.api.secrets.apiKey',
      message: 'has no source',
      fix: 'give exactly one of fromEnv, fromFile or generate',
    });
  });

  test('GIVEN a secret with two sources WHEN parsed THEN it names both', () => {
    const text =
      'services:\n  api:\n    command: [x]\n    secrets:\n      apiKey: { fromEnv: KEY, generate: 32 }\n';
    assertOneProblem(header + text, {
      line: 7,
      column: 15,
      field: 'services.api.secrets.apiKey',
      message: 'has 2 sources (fromEnv, generate)',
      fix: 'give exactly one of fromEnv, fromFile or generate',
    });
  });

  test('GIVEN an overlay for an unknown service WHEN parsed THEN it suggests the service', () => {
    const text =
      'environments:\n  staging:\n    services:\n      wbe: { replicas: 1 }\nservices:\n  web:\n    command: [x]\n';
    assertOneProblem(header + text, {
      line: 6,
      column: 7,
      field: 'environments.staging.services.wbe',
      message: "unknown service 'wbe' (did you mean 'web'?)",
      fix: 'overlay one of the services: web',
    });
  });

  test('GIVEN several problems WHEN parsed THEN all are reported in one error, in file order', () => {
    const text = yaml`
      version: 2
      name: demo
      services:
        web:
          command: [x]
          replicas: 99
          dependsOn: [ghost]
      `;
    const error = parseError(text);
    assert.equal(error.code, 'RAMPART_E_STACK_INVALID');
    const problems = error.details['problems'] as StackProblem[];
    assert.deepEqual(
      problems.map((p) => `${p.line}:${p.field}`),
      ['1:version', '6:services.web.replicas', '7:services.web.dependsOn[0]'],
    );
    assert.equal(error.message.split('\n').length, 3);
    assert.equal(error.details.field, 'version');
  });

  test('GIVEN broken YAML WHEN parsed THEN RAMPART_E_STACK_PARSE gives the position', () => {
    const error = parseError('version: 1\nname: demo\nservices:\n  web: { command: [x]\n');
    assert.equal(error.code, 'RAMPART_E_STACK_PARSE');
    assert.equal(error.details.file, FILE);
    assert.equal(error.details.line, 5);
    assert.equal(error.details.column, 1);
    assert.match(error.message, /^\/srv\/demo\/rampart\.yaml:5:1: /);
  });

  test('GIVEN a duplicate key WHEN parsed THEN it is a syntax error at the second key', () => {
    const error = parseError('version: 1\nname: demo\nname: again\n');
    assert.equal(error.code, 'RAMPART_E_STACK_PARSE');
    assert.equal(error.message, `${FILE}:3:1: Map keys must be unique`);
  });
});
