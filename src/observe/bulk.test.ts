import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filterPath, logInputFromDocument, newDocumentId, parseBulk } from './bulk.ts';

const ids = () => {
  let i = 0;
  return () => `id${++i}`;
};
const ndjson = (...lines: unknown[]) =>
  lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';

describe('_bulk parsing', () => {
  it('GIVEN index and create actions WHEN parsed THEN documents and items exactly as Elasticsearch answers', () => {
    const body = ndjson(
      { index: { _index: 'logs-a' } },
      { message: 'one' },
      { create: { _index: 'logs-b', _id: 'mine' } },
      { msg: 'two' },
    );
    const r = parseBulk(body, { newId: ids() });
    assert.ok(r.ok);
    assert.equal(r.errors, false);
    assert.deepEqual(r.documents, [
      { index: 'logs-a', id: 'id1', source: { message: 'one' } },
      { index: 'logs-b', id: 'mine', source: { msg: 'two' } },
    ]);
    assert.deepEqual(r.items, [
      {
        index: {
          _index: 'logs-a',
          _id: 'id1',
          _version: 1,
          result: 'created',
          _shards: { total: 1, successful: 1, failed: 0 },
          _seq_no: 0,
          _primary_term: 1,
          status: 201,
        },
      },
      {
        create: {
          _index: 'logs-b',
          _id: 'mine',
          _version: 1,
          result: 'created',
          _shards: { total: 1, successful: 1, failed: 0 },
          _seq_no: 1,
          _primary_term: 1,
          status: 201,
        },
      },
    ]);
  });

  it('GIVEN sources that are not objects, and delete/update WHEN parsed THEN per-item errors, the rest stored', () => {
    const body = ndjson(
      { index: {} },
      '"just a string"',
      { index: {} },
      '{broken',
      { delete: { _id: 'x' } },
      { update: { _id: 'y' } },
      { doc: { a: 1 } },
      { index: {} },
      { message: 'kept' },
    );
    const r = parseBulk(body, { defaultIndex: 'fluentbit', newId: ids() });
    assert.ok(r.ok);
    assert.equal(r.errors, true);
    assert.deepEqual(
      r.documents.map((d) => d.source),
      [{ message: 'kept' }],
    );
    assert.deepEqual(r.items[0], {
      index: {
        _index: 'fluentbit',
        _id: 'id1',
        status: 400,
        error: {
          type: 'mapper_parsing_exception',
          reason: 'failed to parse: the document must be a JSON object, found [VALUE_STRING]',
          index: 'fluentbit',
        },
      },
    });
    assert.equal((r.items[1]?.index as { error: { type: string } }).error.type, 'mapper_parsing_exception');
    assert.deepEqual(r.items[2], {
      delete: {
        _index: 'fluentbit',
        _id: 'x',
        status: 400,
        error: {
          type: 'illegal_argument_exception',
          reason: 'Rampart keeps logs append-only: delete is not supported',
          index: 'fluentbit',
        },
      },
    });
    assert.equal((r.items[3]?.update as { status: number }).status, 400);
    assert.equal((r.items[4]?.index as { status: number }).status, 201);
  });

  it('GIVEN malformed requests WHEN parsed THEN the whole request is refused with a 400 like Elasticsearch', () => {
    const refuse = (body: string, type: string, reason: RegExp) => {
      const r = parseBulk(body);
      assert.ok(!r.ok);
      assert.equal(r.status, 400);
      assert.equal(r.body.error.type, type);
      assert.match(r.body.error.reason, reason);
      assert.deepEqual(r.body.error.root_cause, [{ type, reason: r.body.error.reason }]);
    };
    refuse(
      '{"index":{"_index":"a"}}\n{"a":1}',
      'illegal_argument_exception',
      /must be terminated by a newline/,
    );
    refuse(
      ndjson('"x"'),
      'illegal_argument_exception',
      /^Malformed action\/metadata line \[1\], expected START_OBJECT or END_OBJECT but found \[VALUE_STRING\]$/,
    );
    refuse(
      ndjson({ upsert: {} }, {}),
      'illegal_argument_exception',
      /expected field \[create\], \[delete\], \[index\] or \[update\] but found \[upsert\]/,
    );
    refuse(ndjson('{nope'), 'x_content_parse_exception', /^\[1:1\]/);
    refuse(
      ndjson({ index: {} }, { a: 1 }),
      'action_request_validation_exception',
      /^Validation Failed: 1: index is missing;$/,
    );
  });

  it('GIVEN shipper documents WHEN turned into log records THEN message, time, level, service and trace id', () => {
    // Shapes sent by Filebeat (ECS), Fluent Bit (log + @timestamp) and pino-elasticsearch (pino fields + time).
    const filebeat = logInputFromDocument(
      {
        index: 'filebeat-8.11.0',
        id: 'a',
        source: {
          '@timestamp': '2024-01-01T00:00:00.000Z',
          message: 'GET /x 500',
          log: { level: 'error', file: { path: '/var/log/app.log' } },
          service: { name: 'gateway', environment: 'prod' },
          trace: { id: '4bf92f3577b34da6a3ce929d0e0e4736' },
        },
      },
      0,
    );
    assert.equal(filebeat.time, Date.UTC(2024, 0, 1));
    assert.equal(filebeat.message, 'GET /x 500');
    assert.equal(filebeat.level, 'error');
    assert.equal(filebeat.service, 'gateway');
    assert.equal(filebeat.environment, 'prod');
    assert.equal(filebeat.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.deepEqual(filebeat.attributes, {
      log: { file: { path: '/var/log/app.log' } },
      service: { environment: 'prod' },
      _index: 'filebeat-8.11.0',
      _id: 'a',
    });
    const fluentbit = logInputFromDocument(
      { index: 'fluent-bit', id: 'b', source: { '@timestamp': '2024-01-01T00:00:01Z', log: 'raw line\n' } },
      0,
    );
    assert.deepEqual(
      [fluentbit.service, fluentbit.message, fluentbit.time],
      ['fluent-bit', 'raw line\n', Date.UTC(2024, 0, 1, 0, 0, 1)],
    );
    const pino = logInputFromDocument(
      { index: 'pino', id: 'c', source: { level: 30, time: '2024-01-01T00:00:02.000Z', msg: 'hi', pid: 1 } },
      0,
    );
    assert.deepEqual([pino.level, pino.message, pino.time], ['info', 'hi', Date.UTC(2024, 0, 1, 0, 0, 2)]);
    // No message field: the document itself is the text, so full-text search still finds it.
    assert.equal(logInputFromDocument({ index: 'i', id: 'd', source: { a: 1 } }, 5).message, '{"a":1}');
  });

  it('GIVEN filter_path WHEN applied THEN only the requested paths remain (as Filebeat asks for)', () => {
    const answer = {
      took: 3,
      errors: true,
      items: [
        { index: { _id: 'a', status: 201 } },
        { index: { _id: 'b', status: 400, error: { type: 't' } } },
      ],
    };
    assert.deepEqual(filterPath(answer, 'errors,items.*.error,items.*.status'), {
      errors: true,
      items: [{ index: { status: 201 } }, { index: { status: 400, error: { type: 't' } } }],
    });
    assert.deepEqual(filterPath(answer, 'took'), { took: 3 });
    assert.deepEqual(filterPath(answer, '**.error'), { items: [{ index: { error: { type: 't' } } }] });
    assert.equal(filterPath(answer, undefined), answer);
    assert.match(newDocumentId(), /^[A-Za-z0-9_-]{20}$/);
  });
});
