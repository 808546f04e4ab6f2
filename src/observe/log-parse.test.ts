import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { levelFromSeverityNumber, normaliseLevel, parseLogText } from './log-parse.ts';

// Lines as the libraries print them (pino 9, bunyan 1.8, winston 3 json format, @elastic/ecs-pino-format).
const PINO =
  '{"level":50,"time":1700000000123,"pid":42,"hostname":"api-0","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_flags":"01","msg":"payment failed","orderId":17}';
const BUNYAN =
  '{"name":"gateway","hostname":"gw-1","pid":7,"level":40,"msg":"slow upstream","time":"2023-11-14T22:13:20.500Z","v":0}';
const WINSTON =
  '{"level":"warn","message":"cache miss","timestamp":"2023-11-14T22:13:20.000Z","key":"user:1"}';
const ECS =
  '{"@timestamp":"2023-11-14T22:13:20.250Z","log.level":"error","message":"db timeout","ecs.version":"8.10.0","service.name":"identity","trace.id":"4bf92f3577b34da6a3ce929d0e0e4736","span.id":"00f067aa0ba902b7","log":{"logger":"db"}}';
const ECS_NESTED =
  '{"@timestamp":"2023-11-14T22:13:20.250Z","log":{"level":"info","logger":"http"},"message":"started","trace":{"id":"4bf92f3577b34da6a3ce929d0e0e4736"},"service":{"name":"geo","version":"2"}}';

describe('log line parsing', () => {
  it('GIVEN a pino line WHEN parsed THEN numeric level, msg, time and OTel trace ids are fields', () => {
    const p = parseLogText(PINO);
    assert.equal(p.level, 'error');
    assert.equal(p.message, 'payment failed');
    assert.equal(p.time, 1700000000123);
    assert.equal(p.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(p.spanId, '00f067aa0ba902b7');
    assert.deepEqual(p.attributes, { pid: 42, hostname: 'api-0', trace_flags: '01', orderId: 17 });
  });

  it('GIVEN a bunyan line WHEN parsed THEN its ISO time is read and its format version dropped', () => {
    const p = parseLogText(BUNYAN);
    assert.equal(p.level, 'warn');
    assert.equal(p.message, 'slow upstream');
    assert.equal(p.time, Date.parse('2023-11-14T22:13:20.500Z'));
    assert.deepEqual(p.attributes, { name: 'gateway', hostname: 'gw-1', pid: 7 });
  });

  it('GIVEN a winston JSON line WHEN parsed THEN level word, message and timestamp are fields', () => {
    const p = parseLogText(WINSTON);
    assert.equal(p.level, 'warn');
    assert.equal(p.message, 'cache miss');
    assert.equal(p.time, Date.parse('2023-11-14T22:13:20.000Z'));
    assert.deepEqual(p.attributes, { key: 'user:1' });
  });

  it('GIVEN ECS lines, flat or nested WHEN parsed THEN @timestamp, log.level, trace.id, service.name are fields', () => {
    const flat = parseLogText(ECS);
    assert.equal(flat.level, 'error');
    assert.equal(flat.message, 'db timeout');
    assert.equal(flat.service, 'identity');
    assert.equal(flat.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(flat.spanId, '00f067aa0ba902b7');
    assert.deepEqual(flat.attributes, { 'ecs.version': '8.10.0', log: { logger: 'db' } });
    const nested = parseLogText(ECS_NESTED);
    assert.equal(nested.level, 'info');
    assert.equal(nested.service, 'geo');
    assert.equal(nested.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.deepEqual(nested.attributes, { log: { logger: 'http' }, service: { version: '2' } });
  });

  it('GIVEN plain text WHEN parsed THEN it is kept whole, with a level when the line leads with one', () => {
    assert.deepEqual(parseLogText('listening on :8080'), {
      level: null,
      message: 'listening on :8080',
      time: null,
      traceId: null,
      spanId: null,
      service: null,
      attributes: {},
    });
    assert.equal(parseLogText('ERROR: connection refused').level, 'error');
    assert.equal(parseLogText('[warn] disk 91% full').level, 'warn');
    assert.equal(parseLogText('2023-11-14 22:13:20.000 INFO started').level, 'info');
    assert.equal(parseLogText('ts=2023 level=debug msg="x"').level, 'debug');
    assert.equal(parseLogText('{not json}').message, '{not json}');
    assert.equal(parseLogText('[1,2]').message, '[1,2]');
  });

  it('GIVEN level spellings WHEN normalised THEN six levels', () => {
    assert.deepEqual(
      [
        10,
        20,
        30,
        40,
        50,
        60,
        'WARNING',
        'err',
        'critical',
        'verbose',
        'silly',
        'http',
        '30',
        'nope',
        undefined,
      ].map(normaliseLevel),
      [
        'trace',
        'debug',
        'info',
        'warn',
        'error',
        'fatal',
        'warn',
        'error',
        'fatal',
        'debug',
        'trace',
        'info',
        'info',
        null,
        null,
      ],
    );
    assert.deepEqual([0, 1, 5, 9, 13, 17, 21, 24, 25].map(levelFromSeverityNumber), [
      null,
      'trace',
      'debug',
      'info',
      'warn',
      'error',
      'fatal',
      'fatal',
      null,
    ]);
  });
});
