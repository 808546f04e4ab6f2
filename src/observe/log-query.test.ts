import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRampartError } from '../platform/errors.ts';
import { compileLogQuery, indexedCandidates, parseLogQuery } from './log-query.ts';
import { tokenize } from './log-text.ts';

function expectQueryError(query: string, message: string): void {
  assert.throws(
    () => compileLogQuery(query, parseLogQuery(query)),
    (e: unknown) =>
      isRampartError(e) && e.code === 'RAMPART_E_BAD_REQUEST' && e.message.split('\n')[0] === message,
  );
}

describe('log query language', () => {
  it('GIVEN the typical query WHEN parsed THEN fields, phrase, exclusion and attribute paths are terms', () => {
    assert.deepEqual(parseLogQuery('service:gateway level:error "timed out" -healthz http.status>=500'), [
      { type: 'field', field: 'service', op: ':', value: 'gateway', negate: false, position: 0 },
      { type: 'field', field: 'level', op: ':', value: 'error', negate: false, position: 16 },
      { type: 'text', value: 'timed out', phrase: true, prefix: false, negate: false, position: 28 },
      { type: 'text', value: 'healthz', phrase: false, prefix: false, negate: true, position: 40 },
      { type: 'field', field: 'http.status', op: '>=', value: '500', negate: false, position: 49 },
    ]);
  });

  it('GIVEN quoted field values, escapes, NOT, AND and prefixes WHEN parsed THEN they are read as meant', () => {
    assert.deepEqual(parseLogQuery('user.name:"Ann \\"A\\" Lee" NOT stream:stderr AND conn*'), [
      { type: 'field', field: 'user.name', op: ':', value: 'Ann "A" Lee', negate: false, position: 0 },
      { type: 'field', field: 'stream', op: ':', value: 'stderr', negate: true, position: 30 },
      { type: 'text', value: 'conn', phrase: false, prefix: true, negate: false, position: 48 },
    ]);
    assert.deepEqual(parseLogQuery('   '), []);
    assert.deepEqual(parseLogQuery('-"a b"')[0], {
      type: 'text',
      value: 'a b',
      phrase: true,
      prefix: false,
      negate: true,
      position: 0,
    });
  });

  it('GIVEN bad queries WHEN parsed THEN the error names the position', () => {
    expectQueryError('service:gateway "timeout', 'bad log query: unterminated quote at position 17');
    expectQueryError('service: x', 'bad log query: missing value after "service:" at position 9');
    expectQueryError('a OR b', 'bad log query: OR is not supported (all terms must match) at position 3');
    expectQueryError('x NOT', 'bad log query: NOT must be followed by a term at position 3');
    expectQueryError('ab"cd"', 'bad log query: unexpected quote inside a word at position 3');
    expectQueryError('"a"b', 'bad log query: expected a space after the closing quote at position 4');
    expectQueryError(
      'level:loud',
      'bad log query: unknown level "loud" (use trace, debug, info, warn, error, fatal) at position 1',
    );
    expectQueryError('latency>fast', 'bad log query: "latency>" needs a number at position 1');
  });

  it('GIVEN a caret WHEN the error is shown THEN it points under the position', () => {
    try {
      parseLogQuery('level:error "oops');
      assert.fail('expected an error');
    } catch (e) {
      assert.equal(
        (e as Error).message,
        'bad log query: unterminated quote at position 13\n  level:error "oops\n              ^',
      );
      assert.equal((e as { details: { column: number } }).details.column, 13);
    }
  });

  it('GIVEN text terms WHEN compiled THEN one FTS5 match, excluded words left to a JS filter', () => {
    const q = 'service:gateway "timed out" retry* -healthz';
    const c = compileLogQuery(q, parseLogQuery(q), { since: 100, minId: 7, limit: 50 });
    assert.equal(c.plan, 'fts');
    assert.equal(
      c.sql,
      'SELECT l.id, l.time, l.environment, l.namespace, l.service, l.replica, l.stream, l.level, l.message, l.trace_id, l.span_id, l.attributes ' +
        'FROM logs_fts f JOIN logs l ON l.id = f.rowid WHERE logs_fts MATCH ? AND l.service = ? AND l.time >= ? AND f.rowid >= ? ' +
        'ORDER BY f.rowid DESC',
    );
    assert.deepEqual(c.params, ['"timed out" AND "retry" *', 'gateway', 100, 7]);
    assert.equal(c.keep?.('GET /healthz timed out'), false);
    assert.equal(c.keep?.('request timed out'), true);
    const plain = compileLogQuery('"timed out"', parseLogQuery('"timed out"'), { limit: 5 });
    assert.equal(plain.keep, null);
    assert.match(plain.sql, / LIMIT \?$/);
    assert.deepEqual(plain.params, ['"timed out"', 5]);
  });

  it('GIVEN the scan plan WHEN compiled THEN the table is read newest first and every word checked in JS', () => {
    const q = 'service:gateway "timed out" retry* -healthz';
    const c = compileLogQuery(q, parseLogQuery(q), { plan: 'scan' });
    assert.match(c.sql, /FROM logs l WHERE l\.service = \? ORDER BY l\.id DESC$/);
    assert.equal(c.keep?.('upstream Timed-out; retrying'), true);
    assert.equal(c.keep?.('timed out, retry later'), true);
    assert.equal(c.keep?.('timed out'), false);
    assert.equal(c.keep?.('out timed, retrying'), false);
    assert.equal(c.keep?.('healthz timed out retrying'), false);
  });

  it('GIVEN messages WHEN tokenized THEN as FTS5 unicode61 does: words and digits, case and accents folded', () => {
    assert.deepEqual(tokenize('GET /v1/Ünïcode?x=1 — Café_au-lait 42ms'), [
      'get',
      'v1',
      'unicode',
      'x',
      '1',
      'cafe',
      'au',
      'lait',
      '42ms',
    ]);
  });

  it('GIVEN indexed fields WHEN probed THEN a capped count through the index; none without them', () => {
    const trace = `ABC${'0'.repeat(29)}`;
    const q = `service:gateway level>=error trace:${trace} -stream:stderr "x"`;
    const probe = indexedCandidates(q, parseLogQuery(q), { minId: 3, cap: 20000 });
    assert.equal(
      probe?.sql,
      'SELECT count(*) FROM (SELECT 1 FROM logs l WHERE l.service = ? AND l.level IN (?, ?) AND l.trace_key = ? AND l.trace_id = ? AND l.id >= ? LIMIT ?)',
    );
    assert.deepEqual(probe?.params, [
      'gateway',
      'error',
      'fatal',
      0xabc0000000000,
      trace.toLowerCase(),
      3,
      20000,
    ]);
    assert.equal(
      indexedCandidates('"x" http.status:5', parseLogQuery('"x" http.status:5'), { cap: 1 }),
      null,
    );
  });

  it('GIVEN fields only WHEN compiled THEN indexed columns, level ranges and JSON attribute paths', () => {
    const q = 'level>=warn http.status:5* -env:staging ok:true';
    const c = compileLogQuery(q, parseLogQuery(q));
    assert.match(c.sql, /FROM logs l WHERE l\.level IN \(\?, \?, \?\) AND CAST\(coalesce\(json_extract/);
    assert.match(c.sql, /NOT coalesce\(l\.environment = \?, 0\)/);
    assert.deepEqual(c.params, [
      'warn',
      'error',
      'fatal',
      '$."http.status"',
      '$."http"."status"',
      '5%',
      'staging',
      '$."ok"',
      1,
      'true',
      100,
    ]);
  });

  it('GIVEN only excluded words WHEN compiled THEN the rows are read newest first and filtered in JS', () => {
    const c = compileLogQuery('-healthz -ping', parseLogQuery('-healthz -ping'));
    assert.equal(c.sql.endsWith('FROM logs l ORDER BY l.id DESC'), true);
    assert.deepEqual(c.params, []);
    assert.equal(c.keep?.('GET /healthz'), false);
    assert.equal(c.keep?.('pong'), true);
  });
});
