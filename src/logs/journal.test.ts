import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../platform/clock.ts';
import { LogJournal, type LogLine, type LogSource } from './journal.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LogJournal', () => {
  let dir = '';
  let source: LogSource;
  const journals: LogJournal[] = [];
  const journal = (): LogJournal => {
    const j = new LogJournal({ clock: systemClock, pollMs: 10 });
    journals.push(j);
    return j;
  };
  const messages = async (j: LogJournal): Promise<string[]> =>
    (await j.query({ environment: 'e' }, [source])).map((l) => `${l.stream}:${l.message}`);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rampart-journal-'));
    source = {
      environment: 'e',
      namespace: 'n',
      service: 'api',
      index: 0,
      stdoutFile: join(dir, 'api-0.out.log'),
      stderrFile: join(dir, 'api-0.err.log'),
    };
    await writeFile(source.stdoutFile, '');
    await writeFile(source.stderrFile, '');
  });

  afterEach(async () => {
    for (const j of journals.splice(0)) j.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('GIVEN lines written to both streams WHEN polled THEN each whole line is journaled once and heard by listeners', async () => {
    const j = journal();
    const heard: LogLine[] = [];
    j.onLine((l) => heard.push(l));
    j.watch(source);
    await appendFile(source.stdoutFile, 'one\ntwo\nthr');
    await appendFile(source.stderrFile, 'oops\n');
    await sleep(60);
    assert.deepEqual((await messages(j)).sort(), ['stderr:oops', 'stdout:one', 'stdout:two']);
    await appendFile(source.stdoutFile, 'ee\n');
    await sleep(60);
    assert.deepEqual((await messages(j)).sort(), ['stderr:oops', 'stdout:one', 'stdout:three', 'stdout:two']);
    assert.equal(heard.length, 4);
    const { time, ...rest } = heard.find((l) => l.stream === 'stdout')!;
    assert.ok(Math.abs(time - Date.now()) < 5000);
    assert.deepEqual(rest, {
      environment: 'e',
      namespace: 'n',
      service: 'api',
      replica: 0,
      stream: 'stdout',
      message: 'one',
    });
  });

  it('GIVEN nothing new WHEN polled many times THEN the offsets file is not rewritten', async () => {
    const j = journal();
    j.watch(source);
    await appendFile(source.stdoutFile, 'hello\n');
    await sleep(60);
    const offsets = join(dir, 'api-0.offsets.json');
    const first = await stat(offsets);
    await sleep(100);
    const later = await stat(offsets);
    assert.equal(later.mtimeMs, first.mtimeMs);
    assert.deepEqual(JSON.parse(await readFile(offsets, 'utf8')), { stdout: 6, stderr: 0 });
  });

  it('GIVEN a restarted journal WHEN it watches the same replica THEN it resumes at the stored offsets without repeating lines', async () => {
    const a = journal();
    a.watch(source);
    await appendFile(source.stdoutFile, 'before\n');
    await sleep(60);
    a.close();
    await appendFile(source.stdoutFile, 'while down\n');
    const b = journal();
    b.watch(source);
    await sleep(60);
    assert.deepEqual(await messages(b), ['stdout:before', 'stdout:while down']);
  });

  it('GIVEN a truncated file WHEN polled THEN it starts over from the beginning', async () => {
    const j = journal();
    j.watch(source);
    await appendFile(source.stdoutFile, 'a long first line\n');
    await sleep(60);
    await writeFile(source.stdoutFile, 'new\n');
    await sleep(60);
    assert.deepEqual(await messages(j), ['stdout:a long first line', 'stdout:new']);
  });

  it('GIVEN a last line without a newline WHEN unwatched THEN it is journaled too', async () => {
    const j = journal();
    j.watch(source);
    await appendFile(source.stdoutFile, 'done\npartial');
    await j.unwatch(source);
    assert.deepEqual(await messages(j), ['stdout:done', 'stdout:partial']);
  });
});
