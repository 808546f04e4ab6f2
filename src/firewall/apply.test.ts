import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { memoryNetworkFs } from '../network/index.ts';
import { recordingExec } from '../platform/exec.ts';
import {
  applyFirewall,
  deleteFirewall,
  deltaTransaction,
  elementDeltaTransaction,
  inPlaceTransaction,
  parseCompiledTable,
  parseDeniedJson,
  parseKernelObjects,
  readDenied,
  replaceTransaction,
  revisionOf,
} from './apply.ts';
import { FirewallCompiler, compileFirewall } from './compile.ts';
import { MODEL_FIXTURE } from './golden/cases.ts';
import { policy } from './golden/model.ts';

const TEXT = compileFirewall(MODEL_FIXTURE);
/** The model with one more allowance: y/c may reach x/a on TCP 82. */
const CHANGED_POLICIES = [
  ...MODEL_FIXTURE.policies,
  policy('x', 'extra', {
    podSelector: { matchLabels: { pod: 'a' } },
    ingress: [
      {
        from: [
          { namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'c' } } },
        ],
        ports: [{ protocol: 'TCP', port: 82 }],
      },
    ],
  }),
];
const CHANGED = compileFirewall({ ...MODEL_FIXTURE, policies: CHANGED_POLICIES });
const T = 'inet rampart_demo';

describe('firewall transactions (pure)', () => {
  it('GIVEN the compiled text THEN it parses into its sets, maps and chains', () => {
    const t = parseCompiledTable(TEXT);
    assert.equal(`${t.family} ${t.name}`, T);
    const pods = t.blocks.find((b) => b.name === 'pods')!;
    assert.deepEqual(pods.header, ['type ipv4_addr']);
    assert.equal(pods.items.length, 6);
    const forward = t.blocks.find((b) => b.name === 'forward')!;
    assert.deepEqual(forward.header, ['type filter hook forward priority filter - 10; policy accept;']);
    assert.equal(forward.items.at(-1), 'ip daddr @pods goto check');
  });

  it('GIVEN a replace THEN the table and unchanged objects stay, only what stands in the way is deleted, in one transaction', () => {
    // What `nft -t list table` prints for an older layout of the table.
    const existing = parseKernelObjects(
      [
        'table inet rampart_demo {',
        '\tset pods {',
        '\t\ttype ipv4_addr',
        '\t\tflags interval',
        '\t}',
        '\tset egress_pairs {',
        '\t\ttype ipv4_addr . ipv4_addr',
        '\t}',
        '\tset denied {',
        '\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service',
        '\t\tsize 65536',
        '\t\tflags dynamic,timeout',
        '\t\ttimeout 1h',
        '\t\tcounter',
        '\t}',
        '\tmap mode {',
        '\t\ttype ipv4_addr : verdict',
        '\t}',
        '\tchain check {',
        '\t\tip saddr . ip daddr @same_pod accept',
        '\t}',
        '\tchain old_check {',
        '\t}',
        '\tchain forward {',
        '\t\ttype filter hook forward priority filter - 10; policy accept;',
        '\t\tip saddr @pods goto check',
        '\t}',
        '\tchain input {',
        '\t\ttype filter hook input priority filter + 10; policy accept;',
        '\t}',
        '}',
      ].join('\n'),
    );
    assert.deepEqual(existing.find((o) => o.name === 'input')?.header, [
      'type filter hook input priority filter + 10; policy accept;',
    ]);
    const lines = replaceTransaction(TEXT, existing).split('\n');
    assert.deepEqual(lines.slice(0, 8), [
      `table ${T} {}`,
      `flush table ${T}`,
      // pods is declared otherwise, old_check is gone, input's priority changed.
      `delete set ${T} pods`,
      `delete chain ${T} old_check`,
      `delete chain ${T} input`,
      `flush set ${T} egress_pairs`,
      `flush map ${T} mode`,
      `table ${T} {`,
    ]);
    assert.ok(!lines.includes(`delete table ${T}`), 'the table is never deleted');
    assert.ok(
      !lines.some((l) => /(delete|flush) set .* denied$/.test(l)),
      'the kernel-written set keeps its entries',
    );
    assert.ok(replaceTransaction(TEXT, existing, []).includes(`flush set ${T} denied`));
    assert.deepEqual(lines.slice(-4, -1), [
      `add set ${T} revision { type mark; }`,
      `flush set ${T} revision`,
      `add element ${T} revision { ${revisionOf(TEXT)} }`,
    ]);
  });

  it('GIVEN no table in the kernel THEN the replace just creates it', () => {
    assert.deepEqual(replaceTransaction(TEXT, []).split('\n').slice(0, 3), [
      `table ${T} {}`,
      `flush table ${T}`,
      `table ${T} {`,
    ]);
  });

  it('GIVEN an in-place update THEN every set but @denied is flushed, after declaring all of them', () => {
    const tx = inPlaceTransaction(TEXT);
    assert.match(tx, /^table inet rampart_demo \{\n\tset pods \{ type ipv4_addr; \}\n/);
    assert.match(tx, /\tchain forward \{ type filter hook forward priority filter - 10; policy accept; \}\n/);
    assert.match(
      tx,
      /\tset denied \{ type ipv4_addr \. ipv4_addr \. inet_proto \. inet_service; flags dynamic,timeout; timeout 1h; size 65536; counter; \}\n/,
    );
    assert.match(tx, new RegExp(`\nflush table ${T}\n`));
    assert.match(tx, new RegExp(`\nflush map ${T} mode\n`));
    assert.ok(!tx.includes(`flush set ${T} denied`), 'the kernel-written set keeps its entries');
    assert.ok(
      tx.indexOf(`flush set ${T} egress_pairs`) < tx.indexOf(TEXT.split('\n')[0]!, tx.indexOf('flush')),
    );
  });

  it('GIVEN a one-rule change THEN the delta guards the previous revision and adds just the new element', () => {
    const tx = deltaTransaction(TEXT, CHANGED)!;
    assert.deepEqual(tx.split('\n'), [
      `delete element ${T} revision { ${revisionOf(TEXT)} }`,
      `add element ${T} ingress_ports { 198.18.16.15 . 198.18.16.10 . tcp . 82 }`,
      `add element ${T} revision { ${revisionOf(CHANGED)} }`,
      '',
    ]);
    const back = deltaTransaction(CHANGED, TEXT)!;
    assert.match(
      back,
      new RegExp(
        `\ndelete element ${T} ingress_ports \\{ 198\\.18\\.16\\.15 \\. 198\\.18\\.16\\.10 \\. tcp \\. 82 \\}\n`,
      ),
    );
  });

  it('GIVEN a mode change THEN the map element is deleted by key and added with its new verdict', () => {
    const protect = compileFirewall({
      ...MODEL_FIXTURE,
      modes: { global: 'protect', perService: { 'y/c': 'learn' } },
    });
    const tx = deltaTransaction(TEXT, protect)!;
    assert.match(tx, new RegExp(`\ndelete element ${T} mode \\{ 198\\.18\\.16\\.12 \\}\n`));
    assert.match(
      tx,
      new RegExp(`\nadd element ${T} mode \\{ 198\\.18\\.16\\.12 : jump denied_protect \\}\n`),
    );
  });

  it('GIVEN the compiler’s element-level delta THEN its transaction is the one diffing the two texts gives', () => {
    const compiler = new FirewallCompiler();
    const extra = CHANGED_POLICIES.at(-1)!;
    compiler.update(MODEL_FIXTURE);
    const steps = [
      { ...MODEL_FIXTURE, policies: CHANGED_POLICIES },
      {
        ...MODEL_FIXTURE,
        policies: CHANGED_POLICIES,
        modes: { global: 'protect' as const, perService: { 'y/c': 'learn' as const } },
      },
      { ...MODEL_FIXTURE, policies: [extra], modes: { global: 'monitor' as const, perService: {} } },
    ];
    let previous = TEXT;
    for (const step of steps) {
      const { text, delta } = compiler.update(step);
      const lines = (tx: string) => tx.split('\n').sort();
      assert.deepEqual(
        lines(elementDeltaTransaction('rampart_demo', delta!)),
        lines(deltaTransaction(previous, text)!),
      );
      previous = text;
    }
  });

  it('GIVEN a different layout THEN there is no delta', () => {
    assert.equal(
      deltaTransaction(
        TEXT.replace(
          '\tset pods {\n\t\ttype ipv4_addr\n',
          '\tset pods {\n\t\ttype ipv4_addr\n\t\tflags interval\n',
        ),
        TEXT,
      ),
      undefined,
    );
  });
});

describe('applyFirewall (recorded exec)', () => {
  it('GIVEN no previous text THEN one in-place nft -f through a temp file, removed afterwards', async () => {
    const fs = memoryNetworkFs();
    const written: string[] = [];
    const exec = recordingExec((argv) => {
      if (argv[0] === 'nft') written.push(fs.files.get(argv[2]!)!);
      return undefined;
    });
    const r = await applyFirewall(exec, 'demo', TEXT, { fs, tmpDir: '/tmp' });
    assert.deepEqual(r, { strategy: 'in-place', revision: revisionOf(TEXT) });
    assert.equal(exec.calls.length, 1);
    assert.match(exec.calls[0]!.argv.join(' '), /^nft -f \/tmp\/rampart-fw-demo-[0-9a-f]{12}\.nft$/);
    assert.equal(written[0], inPlaceTransaction(TEXT));
    assert.equal(fs.files.size, 0);
  });

  it('GIVEN a previous text the kernel no longer holds THEN the delta fails and the in-place load follows', async () => {
    const fs = memoryNetworkFs();
    const exec = recordingExec((argv) =>
      fs.files.get(argv[2]!)?.startsWith('delete element')
        ? { code: 1, stderr: 'Error: Could not process rule: No such file or directory' }
        : undefined,
    );
    const r = await applyFirewall(exec, 'demo', CHANGED, { fs, previous: TEXT });
    assert.equal(r.strategy, 'in-place');
    assert.equal(exec.calls.length, 2);
  });

  it('GIVEN a previous text the kernel holds THEN the delta alone runs', async () => {
    const exec = recordingExec();
    const r = await applyFirewall(exec, 'demo', CHANGED, { fs: memoryNetworkFs(), previous: TEXT });
    assert.deepEqual(r, { strategy: 'delta', revision: revisionOf(CHANGED) });
    assert.equal(exec.calls.length, 1);
  });

  it('GIVEN an in-place load the kernel refuses THEN the kernel objects are listed and the contents replaced; if that fails too, the error names nft', async () => {
    const fs = memoryNetworkFs();
    const loaded: string[] = [];
    const refuse = (pattern: RegExp) =>
      recordingExec((argv) => {
        if (argv[1] === '-t') return { stdout: '' };
        const text = fs.files.get(argv[2]!) ?? '';
        loaded.push(text);
        return pattern.test(text) ? { code: 1, stderr: 'Error: File exists' } : undefined;
      });
    const exec = refuse(/^table inet rampart_demo \{\n\t/);
    assert.equal((await applyFirewall(exec, 'demo', TEXT, { fs })).strategy, 'replace');
    assert.deepEqual(
      exec.calls.map((c) => c.argv.slice(0, 3).join(' ')),
      ['nft -f ' + exec.calls[0]!.argv[2], 'nft -t list', 'nft -f ' + exec.calls[2]!.argv[2]],
    );
    assert.equal(loaded.at(-1), replaceTransaction(TEXT, []));
    await assert.rejects(applyFirewall(refuse(/./), 'demo', TEXT, { fs }), {
      code: 'RAMPART_E_EXEC_FAILED',
      message: /nft -f \(firewall of demo\) failed: Error: File exists/,
    });
  });

  it('GIVEN strategy replace THEN neither delta nor in-place is tried', async () => {
    const exec = recordingExec((argv) => (argv[1] === '-t' ? { stdout: '' } : undefined));
    const r = await applyFirewall(exec, 'demo', CHANGED, {
      fs: memoryNetworkFs(),
      previous: TEXT,
      strategy: 'replace',
    });
    assert.equal(r.strategy, 'replace');
    assert.equal(exec.calls.length, 2);
  });

  it('GIVEN a ruleset of another environment THEN it is refused before nft runs', async () => {
    const exec = recordingExec();
    await assert.rejects(applyFirewall(exec, 'other', TEXT, { fs: memoryNetworkFs() }), {
      code: 'RAMPART_E_INTERNAL',
    });
    assert.equal(exec.calls.length, 0);
  });
});

describe('readDenied and deleteFirewall', () => {
  const JSON_OUT = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      {
        set: {
          family: 'inet',
          name: 'denied',
          table: 'rampart_demo',
          elem: [
            {
              elem: {
                val: { concat: ['198.18.16.13', '198.18.16.10', 'tcp', 80] },
                expires: 3597,
                counter: { packets: 3, bytes: 180 },
              },
            },
            {
              elem: {
                val: { concat: ['198.18.16.13', '198.18.16.1', 'icmp', 2048] },
                expires: 10,
                counter: { packets: 1, bytes: 84 },
              },
            },
          ],
        },
      },
    ],
  });

  it('GIVEN nft’s JSON THEN entries carry addresses, protocol, port and counters', () => {
    assert.deepEqual(parseDeniedJson(JSON_OUT), [
      {
        srcIp: '198.18.16.13',
        dstIp: '198.18.16.10',
        protocol: 'TCP',
        dstPort: 80,
        packets: 3,
        bytes: 180,
        expiresInMs: 3_597_000,
      },
      {
        srcIp: '198.18.16.13',
        dstIp: '198.18.16.1',
        protocol: 'ICMP',
        dstPort: 0,
        packets: 1,
        bytes: 84,
        expiresInMs: 10_000,
      },
    ]);
  });

  it('GIVEN the table does not exist THEN readDenied is empty; another failure throws', async () => {
    const missing = recordingExec(() => ({
      code: 1,
      stderr: 'Error: No such file or directory\nlist set inet rampart_demo denied',
    }));
    assert.deepEqual(await readDenied(missing, 'demo'), []);
    assert.deepEqual(missing.calls[0]!.argv, ['nft', '-j', 'list', 'set', 'inet', 'rampart_demo', 'denied']);
    await assert.rejects(
      readDenied(
        recordingExec(() => ({ code: 1, stderr: 'Operation not permitted' })),
        'demo',
      ),
      { code: 'RAMPART_E_EXEC_FAILED' },
    );
  });

  it('GIVEN deleteFirewall THEN only an existing inet table of the environment is deleted', async () => {
    const tables = (names: string[]) =>
      JSON.stringify({
        nftables: names.map((n) => ({ table: { family: n.split(' ')[0], name: n.split(' ')[1] } })),
      });
    const present = recordingExec((argv) =>
      argv[1] === '-j' ? { stdout: tables(['ip rampart_demo', 'inet rampart_demo']) } : undefined,
    );
    await deleteFirewall(present, 'demo');
    assert.deepEqual(present.calls.at(-1)!.argv, ['nft', 'delete', 'table', 'inet', 'rampart_demo']);
    const absent = recordingExec((argv) =>
      argv[1] === '-j' ? { stdout: tables(['ip rampart_demo']) } : undefined,
    );
    await deleteFirewall(absent, 'demo');
    assert.equal(absent.calls.length, 1);
  });
});
