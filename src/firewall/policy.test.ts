import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RampartError } from '../platform/errors.ts';
import { parsePolicies, renderPoliciesYaml, renderPolicyYaml } from './policy.ts';

const FILE = '/srv/shop/policies/web.yaml';

const EXAMPLE = `# The example of the Kubernetes documentation.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
    - Ingress
    - Egress
  ingress:
    - from:
        - ipBlock:
            cidr: 172.17.0.0/16
            except:
              - 172.17.1.0/24
        - namespaceSelector:
            matchLabels:
              project: myproject
        - podSelector:
            matchLabels:
              role: frontend
      ports:
        - protocol: TCP
          port: 6379
  egress:
    - to:
        - ipBlock:
            cidr: 10.0.0.0/24
      ports:
        - protocol: TCP
          port: 5978
`;

/** The message of the RAMPART_E_POLICY_INVALID that parsing `text` throws. */
function problems(text: string, namespace?: string): string[] {
  try {
    parsePolicies({ text, file: FILE, namespace });
  } catch (error) {
    assert.ok(error instanceof RampartError, String(error));
    assert.equal(error.code, 'RAMPART_E_POLICY_INVALID');
    return error.message.split('\n');
  }
  assert.fail('expected RAMPART_E_POLICY_INVALID');
}

const head = (spec: string, metadata = 'name: p\n  namespace: x') =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  ${metadata}\nspec:\n${spec}`;

describe('parsePolicies', () => {
  it('GIVEN the Kubernetes documentation example THEN it parses, and renders back to the same YAML', () => {
    const [policy] = parsePolicies({ text: EXAMPLE, file: FILE });
    assert.equal(policy!.spec.ingress![0]!.from!.length, 3);
    assert.deepEqual(policy!.spec.egress![0]!.to, [{ ipBlock: { cidr: '10.0.0.0/24' } }]);
    assert.equal(renderPolicyYaml(policy!), EXAMPLE.split('\n').slice(1).join('\n'));
  });

  it('GIVEN several documents, empty ones and comments THEN every policy is returned in order', () => {
    const one = head('  podSelector: {}', 'name: one\n  namespace: x');
    const two = head('  podSelector: {}', 'name: two\n  namespace: y');
    const text = `---\n${one}\n---\n# nothing here\n---\n${two}\n---\n`;
    assert.deepEqual(
      parsePolicies({ text, file: FILE }).map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
      ['x/one', 'y/two'],
    );
    assert.deepEqual(parsePolicies({ text: '', file: FILE }), []);
  });

  it('GIVEN no policyTypes and no protocol THEN they are defaulted as the API server does', () => {
    const [withEgress] = parsePolicies({
      text: head('  podSelector: {}\n  egress:\n    - ports:\n        - port: 80'),
      file: FILE,
    });
    assert.deepEqual(withEgress!.spec.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(withEgress!.spec.egress, [{ ports: [{ protocol: 'TCP', port: 80 }] }]);
    const [ingressOnly] = parsePolicies({ text: head('  podSelector:\n  egress: []'), file: FILE });
    assert.deepEqual(ingressOnly!.spec.policyTypes, ['Ingress']);
    assert.deepEqual(ingressOnly!.spec.podSelector, {}, 'a null podSelector is {}');
  });

  it('GIVEN a null rule (`- `) THEN it is the empty rule that allows everything', () => {
    const [p] = parsePolicies({ text: head('  podSelector: {}\n  ingress:\n    -'), file: FILE });
    assert.deepEqual(p!.spec.ingress, [{}]);
  });

  it('GIVEN no namespace and a default THEN the default is used; an explicit one wins', () => {
    const noNs = head('  podSelector: {}', 'name: p');
    assert.equal(parsePolicies({ text: noNs, file: FILE, namespace: 'shop' })[0]!.metadata.namespace, 'shop');
    assert.equal(
      parsePolicies({ text: head('  podSelector: {}'), file: FILE, namespace: 'shop' })[0]!.metadata
        .namespace,
      'x',
    );
    assert.deepEqual(problems(noNs), [
      `${FILE}:3:1: metadata.namespace: is required. Fix: add namespace: <namespace of the pods it selects>, or pass a default namespace`,
    ]);
  });

  it('GIVEN matchExpressions and named ports THEN they are kept', () => {
    const [p] = parsePolicies({
      text: head(
        '  podSelector:\n    matchExpressions:\n      - { key: tier, operator: In, values: [web, api] }\n      - { key: legacy, operator: DoesNotExist }\n  ingress:\n    - ports:\n        - { protocol: UDP, port: dns }\n        - { port: 8000, endPort: 8080 }',
      ),
      file: FILE,
    });
    assert.deepEqual(p!.spec.podSelector.matchExpressions, [
      { key: 'tier', operator: 'In', values: ['web', 'api'] },
      { key: 'legacy', operator: 'DoesNotExist' },
    ]);
    assert.deepEqual(p!.spec.ingress![0]!.ports, [
      { protocol: 'UDP', port: 'dns' },
      { protocol: 'TCP', port: 8000, endPort: 8080 },
    ]);
  });
});

describe('parsePolicies: every problem with file:line:col, field and fix', () => {
  it('GIVEN a typo in a key THEN it is refused with a suggestion', () => {
    assert.deepEqual(
      problems(head('  podSelectr: {}')),
      [
        `${FILE}:7:3: spec.podSelectr: unknown field 'podSelectr' (did you mean 'podSelector'?). Fix: remove it; this mapping takes podSelector, policyTypes, ingress, egress`,
        `${FILE}:6:1: spec.podSelector: is required. Fix: add podSelector: {} to select every pod of the namespace, or matchLabels`,
      ].sort((a, b) => a.split(':')[1]!.localeCompare(b.split(':')[1]!)),
    );
  });

  it('GIVEN another apiVersion or kind THEN both are named', () => {
    const text =
      'apiVersion: networking.k8s.io/v1beta1\nkind: Deployment\nmetadata: { name: p, namespace: x }\nspec: { podSelector: {} }';
    assert.deepEqual(problems(text), [
      `${FILE}:1:13: apiVersion: unsupported apiVersion the string "networking.k8s.io/v1beta1". Fix: use apiVersion: networking.k8s.io/v1`,
      `${FILE}:2:7: kind: Rampart reads NetworkPolicy documents only, got kind the string "Deployment". Fix: use kind: NetworkPolicy, or move this document to another file`,
    ]);
  });

  it('GIVEN SCTP THEN it is refused as not supported', () => {
    assert.deepEqual(
      problems(
        head('  podSelector: {}\n  ingress:\n    - ports:\n        - protocol: SCTP\n          port: 9'),
      ),
      [
        `${FILE}:10:21: spec.ingress[0].ports[0].protocol: SCTP is not supported by Rampart (nftables path supports TCP and UDP). Fix: use TCP or UDP`,
      ],
    );
  });

  it('GIVEN bad ports THEN each says what to write', () => {
    const ports = [
      '- { protocol: tcp, port: 80 }',
      '- { port: "80" }',
      '- { port: 70000 }',
      '- { port: Http_Port }',
      '- { endPort: 90 }',
      '- { port: 90, endPort: 80 }',
      '- { port: http, endPort: 90 }',
    ];
    assert.deepEqual(
      problems(
        head(`  podSelector: {}\n  ingress:\n    - ports:\n${ports.map((p) => `        ${p}`).join('\n')}`),
      ),
      [
        `${FILE}:10:23: spec.ingress[0].ports[0].protocol: unknown protocol 'tcp'. Fix: write TCP (upper case)`,
        `${FILE}:11:19: spec.ingress[0].ports[1].port: expected a port number or name, got the string "80". Fix: remove the quotes`,
        `${FILE}:12:19: spec.ingress[0].ports[2].port: port 70000 is out of range. Fix: use a whole number from 1 to 65535, or a port name`,
        `${FILE}:13:19: spec.ingress[0].ports[3].port: 'Http_Port' is not a valid port name. Fix: use the name of a port of the destination service: at most 15 lowercase letters, digits and '-', e.g. http`,
        `${FILE}:14:13: spec.ingress[0].ports[4].endPort: endPort needs a numeric port. Fix: add port: <first port of the range>`,
        `${FILE}:15:32: spec.ingress[0].ports[5].endPort: endPort 80 is below port 90. Fix: use an endPort of at least 90`,
        `${FILE}:16:25: spec.ingress[0].ports[6].endPort: endPort cannot be used with a named port. Fix: use a numeric port, or remove endPort`,
      ],
    );
  });

  it('GIVEN bad peers THEN ipBlock with selectors, empty peers and bad CIDRs are refused', () => {
    const peers = [
      '- { ipBlock: { cidr: 10.0.0.0/8 }, podSelector: {} }',
      '- {}',
      '- ipBlock: { cidr: 10.0.0.1/8 }',
      '- ipBlock: { cidr: "fd00::/8" }',
      '- ipBlock: { cidr: 10.0.0.0/16, except: [10.1.0.0/24, 10.0.0.0/16] }',
    ];
    assert.deepEqual(
      problems(
        head(`  podSelector: {}\n  ingress:\n    - from:\n${peers.map((p) => `        ${p}`).join('\n')}`),
      ),
      [
        `${FILE}:10:13: spec.ingress[0].from[0].ipBlock: ipBlock cannot be combined with podSelector or namespaceSelector in one peer. Fix: make them two list items: each \`- \` is a peer, and peers add up`,
        `${FILE}:11:11: spec.ingress[0].from[1]: a peer needs podSelector, namespaceSelector or ipBlock. Fix: add one; \`- podSelector: {}\` means every pod of the namespace`,
        `${FILE}:12:28: spec.ingress[0].from[2].ipBlock.cidr: '10.0.0.1/8' has host bits set. Fix: use 10.0.0.0/8`,
        `${FILE}:13:28: spec.ingress[0].from[3].ipBlock.cidr: IPv6 block fd00::/8 is not supported by Rampart (pods have IPv4 addresses only). Fix: use an IPv4 CIDR`,
        `${FILE}:14:50: spec.ingress[0].from[4].ipBlock.except[0]: 10.1.0.0/24 is not strictly inside 10.0.0.0/16. Fix: use a smaller block inside 10.0.0.0/16, or remove it`,
        `${FILE}:14:63: spec.ingress[0].from[4].ipBlock.except[1]: 10.0.0.0/16 is not strictly inside 10.0.0.0/16. Fix: use a smaller block inside 10.0.0.0/16, or remove it`,
      ],
    );
  });

  it('GIVEN bad selectors and labels THEN operators, values and label syntax are checked', () => {
    const spec = [
      '  podSelector:',
      '    matchLabels: { version: 2, "bad key!": x }',
      '    matchExpressions:',
      '      - { key: tier, operator: In }',
      '      - { key: tier, operator: Exists, values: [a] }',
      '      - { key: tier, operator: Equals, values: [a] }',
      '  policyTypes: [Ingres]',
    ].join('\n');
    assert.deepEqual(problems(head(spec, 'name: Bad_Name\n  namespace: x')), [
      `${FILE}:4:9: metadata.name: 'Bad_Name' is not a valid name (a DNS subdomain of at most 253 characters). Fix: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, e.g. allow-web`,
      `${FILE}:8:29: spec.podSelector.matchLabels.version: expected a string, got the number 2. Fix: quote it: '2'`,
      `${FILE}:8:32: spec.podSelector.matchLabels.bad key!: invalid key 'bad key!': its name part must start and end with a letter or digit and hold only letters, digits, '-', '_' and '.'. Fix: use a key like app or example.com/tier`,
      `${FILE}:10:9: spec.podSelector.matchExpressions[0].values: In needs at least one value. Fix: add values: [<value>, ...]`,
      `${FILE}:11:48: spec.podSelector.matchExpressions[1].values: Exists takes no values. Fix: remove values, or use In / NotIn`,
      `${FILE}:12:32: spec.podSelector.matchExpressions[2].operator: unknown operator 'Equals'. Fix: use one of In, NotIn, Exists, DoesNotExist`,
      `${FILE}:13:17: spec.policyTypes[0]: unknown policy type 'Ingres' (did you mean 'Ingress'?). Fix: use Ingress or Egress (capitalised)`,
    ]);
  });

  it('GIVEN the same policy twice in one file THEN the second is refused', () => {
    const one = head('  podSelector: {}');
    assert.deepEqual(problems(`${one}\n---\n${one}`), [
      `${FILE}:12:9: metadata.name: policy x/p is defined twice (documents 1 and 2). Fix: give one of them another name, or merge their rules`,
    ]);
  });

  it('GIVEN a YAML syntax error THEN it is refused with its position', () => {
    const [line] = problems('apiVersion: networking.k8s.io/v1\nspec: [\n');
    assert.match(line!, new RegExp(`^${FILE}:3:1: `));
  });

  it('GIVEN a problem THEN the error details carry the first position, field and fix for editors', () => {
    try {
      parsePolicies({ text: head('  podSelector: {}\n  egres: []'), file: FILE });
      assert.fail('expected an error');
    } catch (error) {
      const e = error as RampartError;
      assert.deepEqual(
        { file: e.details.file, line: e.details.line, column: e.details.column, field: e.details.field },
        { file: FILE, line: 8, column: 3, field: 'spec.egres' },
      );
      assert.equal(e.status, 400);
      assert.equal(e.exitCode, 2);
    }
  });
});

describe('renderPolicyYaml', () => {
  it('GIVEN labels and selectors in any order THEN the output is sorted and spells the defaults out', () => {
    const [p] = parsePolicies({
      text: head(
        '  podSelector: { matchLabels: { z: "1", a: "2" } }\n  ingress:\n    - ports: [{ port: 80 }]',
        'name: p\n  namespace: x\n  labels: { team: pay, app: web }',
      ),
      file: FILE,
    });
    assert.equal(
      renderPolicyYaml(p!),
      [
        'apiVersion: networking.k8s.io/v1',
        'kind: NetworkPolicy',
        'metadata:',
        '  name: p',
        '  namespace: x',
        '  labels:',
        '    app: web',
        '    team: pay',
        'spec:',
        '  podSelector:',
        '    matchLabels:',
        '      a: "2"',
        '      z: "1"',
        '  policyTypes:',
        '    - Ingress',
        '  ingress:',
        '    - ports:',
        '        - protocol: TCP',
        '          port: 80',
        '',
      ].join('\n'),
    );
  });

  it('GIVEN several policies THEN renderPoliciesYaml parses back to the same policies', () => {
    const policies = parsePolicies({ text: `${EXAMPLE}---\n${head('  podSelector: {}')}`, file: FILE });
    assert.deepEqual(parsePolicies({ text: renderPoliciesYaml(policies), file: FILE }), policies);
  });
});
