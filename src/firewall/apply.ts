import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listNftTables, realNetworkFs, type NetworkFs } from '../network/index.ts';
import type { Exec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';
import { nftTableName } from '../platform/names.ts';
import { PRESERVED_SETS, revisionOf, type FirewallDelta } from './compile.ts';
import type { NftSession } from './nft-session.ts';

export { revisionOf };

/**
 * Loads the compiled firewall (compile.ts) into the kernel, always as ONE `nft -f` transaction: the
 * kernel switches from the old ruleset to the new one between two packets, so an update never opens
 * a gap, and conntrack entries (hence established connections, accepted first) are untouched.
 *
 * Three transactions, cheapest first:
 * - delta: with `previous` (the text applied last), only the set elements that changed are deleted
 *   and added (a one-rule change on a 10,000-rule policy is a few elements, not a 10,000-element
 *   reload). It starts by deleting the previous revision's marker element, so it fails as a whole,
 *   changing nothing, unless the kernel holds exactly `previous`.
 * - in-place: declares every set and chain (a no-op for those that exist), flushes the rules and
 *   the sets Rampart writes, and loads the new text. The kernel-written `@denied` set keeps its
 *   elements and counters, so no denied attempt recorded before the update is lost.
 * - replace: when the layout changed (a set's type or flags, another Rampart version) the in-place
 *   load fails as a whole. The table and its base chains are never deleted: deleting and
 *   re-creating them re-registers the netfilter hooks inside the commit, and once that let 1 of
 *   20,489 blocked attempts through. Instead it lists what the kernel holds (`nft -t list table`)
 *   and loads in place, deleting in the same transaction exactly the objects that stand in the
 *   way: sets and maps declared otherwise, chains the new text does not have, base chains whose
 *   hook, priority or policy changed (the one case where a hook is re-registered). `@denied` keeps
 *   its elements unless its own declaration changed.
 *
 * The text must be compileFirewall's: one set element or one rule per line.
 */

export interface FirewallApplyOptions {
  /** The text this environment's table was last loaded with: enables the delta transaction. */
  previous?: string;
  fs?: NetworkFs;
  tmpDir?: string;
  /** Skip the cheaper transactions (tests and benchmarks of the replace path). */
  strategy?: 'replace';
  /**
   * Where a small delta transaction runs: one line in this long-lived `nft -i` instead of a new
   * `nft -f` process (still one transaction). Anything else, or a session that fails, uses `nft -f`.
   */
  session?: NftSession;
  /**
   * The element-level difference from `previous` to the text (FirewallCompiler.update): the delta
   * transaction is built from it instead of diffing the two texts. Ignored unless its revisions
   * are those of `previous` and of the text.
   */
  delta?: FirewallDelta;
}

export type FirewallApplyStrategy = 'delta' | 'in-place' | 'replace';

interface Block {
  kind: 'set' | 'map' | 'chain';
  name: string;
  /** Declaration lines: `type …`, `flags …`, a base chain's hook line. */
  header: string[];
  /** Set elements or chain rules, one per line. */
  items: string[];
}

interface ParsedTable {
  family: string;
  name: string;
  blocks: Block[];
}

const REVISION_SET = 'revision';

/**
 * The last texts parsed: a delta parses `previous` and `next`, and the next delta's `previous` is
 * this one's `next`, so each 20,000-line text is parsed once.
 */
const recentlyParsed = new Map<string, ParsedTable>();

/** Pure: the blocks of a compiled table. */
export function parseCompiledTable(text: string): ParsedTable {
  const cached = recentlyParsed.get(text);
  if (cached) return cached;
  const parsed = parseTableText(text);
  recentlyParsed.set(text, parsed);
  if (recentlyParsed.size > 2) recentlyParsed.delete(recentlyParsed.keys().next().value!);
  return parsed;
}

function parseTableText(text: string): ParsedTable {
  const lines = text.split('\n');
  const head = /^table (\w+) (\w+) \{$/.exec(lines[0] ?? '');
  if (!head)
    throw internal(`a firewall ruleset must start with 'table <family> <name> {', got '${lines[0]}'`);
  const blocks: Block[] = [];
  let block: Block | undefined;
  let inElements = false;
  for (const raw of lines.slice(1)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const open = /^(set|map|chain) (\S+) \{$/.exec(line);
    if (!block) {
      if (open)
        blocks.push((block = { kind: open[1] as Block['kind'], name: open[2]!, header: [], items: [] }));
      else if (line !== '}') throw internal(`unexpected line in firewall ruleset: '${line}'`);
      continue;
    }
    if (line === 'elements = {') inElements = true;
    else if (line === '}') {
      if (inElements) inElements = false;
      else block = undefined;
    } else if (inElements) block.items.push(line.replace(/,$/, ''));
    else if (block.kind !== 'chain' || line.startsWith('type ')) block.header.push(line);
    else block.items.push(line);
  }
  return { family: head[1]!, name: head[2]!, blocks };
}

const qualified = (t: ParsedTable) => `${t.family} ${t.name}`;
const declaration = (b: Block) =>
  `${b.kind} ${b.name} { ${b.header.map((h) => `${h.replace(/;$/, '')}; `).join('')}}`;
const keyOf = (b: Block, item: string) => (b.kind === 'map' ? item.slice(0, item.indexOf(' : ')) : item);

function revisionLines(t: ParsedTable, revision: string): string[] {
  return [
    `add set ${qualified(t)} ${REVISION_SET} { type mark; }`,
    `flush set ${qualified(t)} ${REVISION_SET}`,
    `add element ${qualified(t)} ${REVISION_SET} { ${revision} }`,
  ];
}

/** A set, map or chain of the environment's table as the kernel lists it (`nft -t list table`). */
export interface KernelObject {
  kind: 'set' | 'map' | 'chain';
  name: string;
  /** Declaration lines as nft prints them (`type …`, `flags …`; a base chain's hook line). */
  header: string[];
}

/** Pure: the objects in `nft -t list table …` output (terse: no set elements). */
export function parseKernelObjects(text: string): KernelObject[] {
  return parseTableText(text).blocks.map((b) => ({ kind: b.kind, name: b.name, header: b.header }));
}

/** nft's named priorities (nft(8), "CHAINS") for the inet family. */
const NAMED_PRIORITY: Readonly<Record<string, number>> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
};

/** Pure: a base chain's hook, priority and policy (`type filter hook forward priority filter; policy accept;`). */
function hookOf(header: readonly string[]): string | undefined {
  const line = header.find((h) => h.startsWith('type ')) ?? '';
  const m = /\bhook (\w+) priority ([\w-]+)(?:\s*([+-])\s*(\d+))?;(?:\s*policy (\w+);)?/.exec(line);
  if (!m) return undefined;
  const base = NAMED_PRIORITY[m[2]!] ?? Number(m[2]);
  const offset = m[3] === undefined ? 0 : Number(m[4]) * (m[3] === '-' ? -1 : 1);
  return `${m[1]} ${base + offset} ${m[5] ?? 'accept'}`;
}

const sameDeclaration = (a: readonly string[], b: readonly string[]): boolean =>
  [...a]
    .map((l) => l.replace(/;$/, ''))
    .sort()
    .join('\n') ===
  [...b]
    .map((l) => l.replace(/;$/, ''))
    .sort()
    .join('\n');

/**
 * Pure: the transaction that loads `text` over whatever the kernel holds (`existing`) without
 * deleting the table or a base chain whose hook stays (see the top of this file). It is the
 * in-place load plus the deletion of exactly the objects that stand in the way: sets and maps
 * declared otherwise, chains the new text does not have, base chains whose hook changed. The
 * sets named in `keep` keep their elements when they stay.
 */
export function replaceTransaction(
  text: string,
  existing: readonly KernelObject[],
  keep: readonly string[] = PRESERVED_SETS,
): string {
  const t = parseCompiledTable(text);
  const q = qualified(t);
  const next = new Map(t.blocks.map((b) => [b.name, b]));
  const stays = (o: KernelObject): boolean => {
    const b = next.get(o.name);
    if (!b || b.kind !== o.kind) return false;
    if (o.kind !== 'chain') return sameDeclaration(o.header, b.header);
    return hookOf(o.header) === hookOf(b.header);
  };
  const gone = existing.filter((o) => !stays(o));
  const deletions = [
    // Maps first: their verdict elements hold references to chains.
    ...gone.filter((o) => o.kind === 'map'),
    ...gone.filter((o) => o.kind === 'set'),
    ...gone.filter((o) => o.kind === 'chain'),
  ].map((o) => `delete ${o.kind} ${q} ${o.name}`);
  const flushes = existing
    .filter((o) => o.kind !== 'chain' && stays(o) && !keep.includes(o.name))
    .map((o) => `flush ${o.kind} ${q} ${o.name}`);
  return [
    `table ${q} {}`,
    `flush table ${q}`,
    ...deletions,
    ...flushes,
    text.trimEnd(),
    ...revisionLines(t, revisionOf(text)),
    '',
  ].join('\n');
}

/** Pure: the transaction that updates the table in place, keeping the kernel-written sets. */
export function inPlaceTransaction(text: string): string {
  const t = parseCompiledTable(text);
  return [
    `table ${qualified(t)} {`,
    ...t.blocks.map((b) => `\t${declaration(b)}`),
    `}`,
    `flush table ${qualified(t)}`,
    ...t.blocks
      .filter((b) => b.kind !== 'chain' && !PRESERVED_SETS.includes(b.name))
      .map((b) => `flush ${b.kind} ${qualified(t)} ${b.name}`),
    text.trimEnd(),
    ...revisionLines(t, revisionOf(text)),
    '',
  ].join('\n');
}

/**
 * Pure: the smallest transaction from `previous` to `next`, or undefined when their layouts differ
 * (other sets, chains or declarations), where only a full load will do.
 */
export function deltaTransaction(previous: string, next: string): string | undefined {
  const before = parseCompiledTable(previous);
  const after = parseCompiledTable(next);
  const layout = (t: ParsedTable) =>
    JSON.stringify([t.family, t.name, t.blocks.map((b) => [b.kind, b.name, b.header])]);
  if (layout(before) !== layout(after)) return undefined;
  const q = qualified(after);
  // Fails, aborting everything, unless the kernel holds exactly `previous`.
  const lines = [`delete element ${q} ${REVISION_SET} { ${revisionOf(previous)} }`];
  const adds: string[] = [];
  after.blocks.forEach((b, i) => {
    const old = before.blocks[i]!;
    if (b.kind === 'chain') {
      if (b.items.join('\n') !== old.items.join('\n')) {
        lines.push(`flush chain ${q} ${b.name}`);
        adds.push(...b.items.map((rule) => `add rule ${q} ${b.name} ${rule}`));
      }
      return;
    }
    const now = new Set(b.items);
    const was = new Set(old.items);
    const removed = old.items.filter((e) => !now.has(e));
    const added = b.items.filter((e) => !was.has(e));
    // Deletions first: a changed interval element may overlap its replacement.
    if (removed.length > 0)
      lines.push(`delete element ${q} ${b.name} { ${removed.map((e) => keyOf(b, e)).join(', ')} }`);
    if (added.length > 0) adds.push(`add element ${q} ${b.name} { ${added.join(', ')} }`);
  });
  return [...lines, ...adds, `add element ${q} ${REVISION_SET} { ${revisionOf(next)} }`, ''].join('\n');
}

/**
 * Pure: the delta transaction from an element-level difference (FirewallCompiler.update), the same
 * commands deltaTransaction writes for the two texts, without reading either text.
 */
export function elementDeltaTransaction(table: string, delta: FirewallDelta): string {
  const q = `inet ${table}`;
  const lines = [`delete element ${q} ${REVISION_SET} { ${delta.previousRevision} }`];
  const adds: string[] = [];
  for (const c of delta.changes) {
    const key = (e: string) => (c.kind === 'map' ? e.slice(0, e.indexOf(' : ')) : e);
    if (c.removed.length > 0)
      lines.push(`delete element ${q} ${c.name} { ${c.removed.map(key).join(', ')} }`);
    if (c.added.length > 0) adds.push(`add element ${q} ${c.name} { ${c.added.join(', ')} }`);
  }
  return [...lines, ...adds, `add element ${q} ${REVISION_SET} { ${delta.revision} }`, ''].join('\n');
}

/**
 * Loads `rulesetText` (compileFirewall's output) as the environment's firewall, atomically.
 * Returns which transaction did it and the text's revision (pass the text as `previous` next time).
 */
export async function applyFirewall(
  exec: Exec,
  env: string,
  rulesetText: string,
  options: FirewallApplyOptions = {},
): Promise<{ strategy: FirewallApplyStrategy; revision: string }> {
  // The first line names the table: the whole text is parsed only when a full load needs it.
  const head = /^table (\w+) (\w+) \{$/.exec(rulesetText.slice(0, rulesetText.indexOf('\n')));
  if (head?.[1] !== 'inet' || head[2] !== nftTableName(env)) {
    const t = parseCompiledTable(rulesetText);
    throw internal(`the ruleset is for table ${qualified(t)}, not inet ${nftTableName(env)}`);
  }
  const revision = revisionOf(rulesetText);
  const load = (transaction: string) => runNftFile(exec, env, transaction, options);
  if (options.strategy !== 'replace') {
    if (options.previous !== undefined) {
      const given = options.delta;
      const delta =
        given && given.revision === revision && given.previousRevision === revisionOf(options.previous)
          ? elementDeltaTransaction(nftTableName(env), given)
          : deltaTransaction(options.previous, rulesetText);
      if (delta !== undefined) {
        const viaSession = options.session && (await loadInSession(options.session, env, delta, revision));
        if (viaSession === 'ok') return { strategy: 'delta', revision };
        if (viaSession !== 'refused' && (await load(delta)).ok) return { strategy: 'delta', revision };
      }
    }
    if ((await load(inPlaceTransaction(rulesetText))).ok) return { strategy: 'in-place', revision };
  }
  const existing = await listKernelObjects(exec, env);
  let replaced = await load(replaceTransaction(rulesetText, existing));
  // @denied's declaration changed too: it cannot be kept.
  if (!replaced.ok) replaced = await load(replaceTransaction(rulesetText, existing, []));
  if (!replaced.ok) {
    throw new RampartError(
      'RAMPART_E_EXEC_FAILED',
      `nft -f (firewall of ${env}) failed: ${replaced.stderr.trim()}`,
      {
        binary: 'nft',
      },
    );
  }
  return { strategy: 'replace', revision };
}

/** A delta longer than this goes through a file: one `nft -i` line holds the whole transaction. */
const SESSION_MAX_LINE = 64 * 1024;

/**
 * Runs a delta transaction as one line of the session and reads the revision marker after it:
 * 'ok' when the kernel now holds `revision`, 'refused' when nft refused the transaction (nothing
 * of it applied), undefined when the session could not tell (too long, session failure: use a file).
 */
async function loadInSession(
  session: NftSession,
  env: string,
  transaction: string,
  revision: string,
): Promise<'ok' | 'refused' | undefined> {
  const commands = transaction.split('\n').filter((l) => l !== '');
  if (commands.reduce((n, c) => n + c.length + 2, 0) > SESSION_MAX_LINE) return undefined;
  try {
    const { stdout, errors } = await session.transact(
      commands,
      `list set inet ${nftTableName(env)} ${REVISION_SET}`,
    );
    const parsed = JSON.parse(stdout) as { nftables: { set?: { elem?: (string | number)[] } }[] };
    const held = parsed.nftables.find((i) => i.set)?.set?.elem ?? [];
    if (held.some((e) => Number(e) === Number(revision))) return 'ok';
    return errors.length > 0 ? 'refused' : undefined;
  } catch {
    return undefined;
  }
}

/** The sets, maps and chains of the environment's table; none when it does not exist. */
export async function listKernelObjects(exec: Exec, env: string): Promise<KernelObject[]> {
  const r = await exec(['nft', '-t', 'list', 'table', 'inet', nftTableName(env)], { allowFailure: true });
  if (r.code !== 0 || r.stdout.trim() === '') return [];
  return parseKernelObjects(r.stdout);
}

/** Through a temp file: `nft -f -` cannot read a Node pipe as stdin ("Could not open file /dev/stdin"). */
async function runNftFile(
  exec: Exec,
  env: string,
  transaction: string,
  options: FirewallApplyOptions,
): Promise<{ ok: boolean; stderr: string }> {
  const fs = options.fs ?? realNetworkFs;
  const file = join(options.tmpDir ?? tmpdir(), `rampart-fw-${env}-${randomBytes(6).toString('hex')}.nft`);
  await fs.writeFile(file, transaction);
  try {
    const r = await exec(['nft', '-f', file], { allowFailure: true });
    return { ok: r.code === 0, stderr: r.stderr };
  } finally {
    await fs.rm(file);
  }
}

/** Removes the environment's firewall table, if it exists. */
export async function deleteFirewall(exec: Exec, env: string): Promise<void> {
  const table = nftTableName(env);
  const tables = await listNftTables(exec);
  if (tables.some((t) => t.family === 'inet' && t.name === table))
    await exec(['nft', 'delete', 'table', 'inet', table]);
}

export interface DeniedEntry {
  srcIp: string;
  dstIp: string;
  /** `TCP`, `UDP`, `SCTP`, or another protocol's upper-case name (`ICMP`) or number. */
  protocol: string;
  /** 0 for protocols without ports. */
  dstPort: number;
  /** Packets and bytes that took the deny path since the entry appeared (both sides count). */
  packets: number;
  bytes: number;
  /** Left before the entry expires (it is refreshed by every packet). */
  expiresInMs?: number;
}

interface NftSetJson {
  nftables: {
    set?: {
      elem?: (
        | {
            elem: {
              val: { concat: (string | number)[] };
              expires?: number;
              counter?: { packets: number; bytes: number };
            };
          }
        | { concat: (string | number)[] }
      )[];
    };
  }[];
}

const PORTED = new Set(['TCP', 'UDP', 'SCTP']);

/**
 * What `@denied` holds now: one entry per (source, destination, protocol, port), with counters.
 * With a session, the listing runs in its long-lived `nft -i` (no process per read); a session
 * that fails for another reason than a missing table falls back to one `nft` through `exec`.
 */
export async function readDenied(exec: Exec, env: string, session?: NftSession): Promise<DeniedEntry[]> {
  if (session) {
    try {
      return parseDeniedJson(await session.run(`list set inet ${nftTableName(env)} denied`));
    } catch (e) {
      if (/No such file or directory/.test((e as Error).message)) return [];
    }
  }
  const r = await exec(['nft', '-j', 'list', 'set', 'inet', nftTableName(env), 'denied'], {
    allowFailure: true,
  });
  if (r.code !== 0) {
    if (/No such file or directory/.test(r.stderr)) return [];
    throw new RampartError(
      'RAMPART_E_EXEC_FAILED',
      `nft -j list set inet ${nftTableName(env)} denied: ${r.stderr.trim()}`,
      {
        binary: 'nft',
      },
    );
  }
  return parseDeniedJson(r.stdout);
}

/** Pure: `nft -j list set … denied` output to entries. */
export function parseDeniedJson(json: string): DeniedEntry[] {
  const parsed = JSON.parse(json) as NftSetJson;
  const out: DeniedEntry[] = [];
  for (const item of parsed.nftables) {
    for (const e of item.set?.elem ?? []) {
      const elem = 'elem' in e ? e.elem : { val: e, counter: undefined, expires: undefined };
      const [src, dst, proto, port] = elem.val.concat;
      const protocol = String(proto).toUpperCase();
      out.push({
        srcIp: String(src),
        dstIp: String(dst),
        protocol,
        dstPort: PORTED.has(protocol) ? Number(port) : 0,
        packets: elem.counter?.packets ?? 0,
        bytes: elem.counter?.bytes ?? 0,
        ...(elem.expires !== undefined && { expiresInMs: elem.expires * 1000 }),
      });
    }
  }
  return out;
}

function internal(message: string): RampartError {
  return new RampartError('RAMPART_E_INTERNAL', message);
}
