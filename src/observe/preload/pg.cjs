/* global module */
'use strict';
/**
 * PostgreSQL client spans of the tracing preload (register.cjs), in place of OpenTelemetry's
 * PgInstrumentation: one CLIENT span per statement (`Client.prototype.query`) and per new
 * connection (`Client.prototype.connect`), made only inside a recording span.
 *
 * Why not the stock instrumentation: a traced statement cost the database services most of what
 * a traced assessment costs them (bench/README.md, session 16). Per statement it made two spans
 * (the pool checkout, `pg-pool.connect`, and the query), copied the query config, parsed the SQL
 * twice, wrapped the callback in a bound context and the promise in two new promises, and recorded
 * a duration histogram; all of it code that runs a few times a second, so always cold here
 * (decision 0011). Pool checkouts get no span of their own: the time a statement waited for a
 * client shows as the gap before its span, as in Elastic's and Datadog's pg integrations. A new
 * connection (TCP, TLS, authentication) still gets one, `connect`.
 *
 * What a statement's span records (stable database semantic conventions): the name
 * `<operation> <database>` (`SELECT frauddb`), `db.system.name` (`postgresql`), `db.namespace`,
 * `db.operation.name` (the statement's first keyword), `db.query.text` (the statement as sent,
 * parameters apart: the values are never recorded), `server.address`, `server.port`; on an error,
 * the status ERROR with the message, `error.type` and `db.response.status_code` (the SQLSTATE).
 *
 * The three shapes of `query` are kept as they are: a trailing callback is wrapped; the promise pg
 * returns is returned itself, observed with a `then` of its own (a rejection stays the caller's to
 * handle); a submittable (a cursor, a COPY stream) is traced through its `callback` when it has
 * one, else through its `end`/`error` events when it is an emitter, else not at all.
 *
 * @param instrumentation `@opentelemetry/instrumentation` (its module hooks find `pg`, required or
 *   imported, in the service's own node_modules)
 * @param o.api `@opentelemetry/api`
 * @param o.tracer the tracer spans are started with
 */
function createPgInstrumentation(instrumentation, o) {
  const { InstrumentationBase, InstrumentationNodeModuleDefinition, InstrumentationNodeModuleFile } =
    instrumentation;
  const patch = (exports) => {
    patchClient(exports && exports.Client ? exports.Client : exports, o);
    return exports;
  };
  const versions = ['>=8 <9'];
  class RampartPgInstrumentation extends InstrumentationBase {
    constructor() {
      super('@rampart/pg', '1.0.0', {});
    }

    init() {
      return [
        new InstrumentationNodeModuleDefinition('pg', versions, patch, undefined, [
          new InstrumentationNodeModuleFile('pg/lib/client.js', versions, patch),
          new InstrumentationNodeModuleFile('pg/lib/native/client.js', versions, patch),
        ]),
        new InstrumentationNodeModuleDefinition('pg-pool', ['>=2 <4'], (exports) => {
          patchPool(exports, o);
          return exports;
        }),
      ];
    }
  }
  return new RampartPgInstrumentation();
}

const PATCHED = Symbol.for('rampart.preload.pg');

/** Patches `query` and `connect` of a pg Client class (once, whichever hook finds it first). */
function patchClient(Client, o) {
  const proto = Client && Client.prototype;
  if (!proto || typeof proto.query !== 'function' || proto[PATCHED]) return;
  proto[PATCHED] = true;
  const { api, tracer } = o;
  const { context, trace, SpanKind, SpanStatusCode } = api;

  /** The context to start a span in, or undefined outside a recording span (no span then). */
  const tracedParent = () => {
    const active = context.active();
    const span = trace.getSpan(active);
    return span !== undefined && span.isRecording() ? active : undefined;
  };

  const plainQuery = proto.query;
  proto.query = function query(config) {
    const parent = tracedParent();
    if (parent === undefined || config == null) return plainQuery.apply(this, arguments);
    const text =
      typeof config === 'string' ? config : typeof config.text === 'string' ? config.text : undefined;
    const operation = operationOf(text);
    const attributes = connectionAttributes(this);
    if (operation !== undefined) attributes['db.operation.name'] = operation;
    if (text !== undefined) attributes['db.query.text'] = text;
    const span = tracer.startSpan(
      operation === undefined ? spanTarget(this) : `${operation} ${spanTarget(this)}`,
      { kind: SpanKind.CLIENT, attributes },
      parent,
    );
    const end = (error) => endSpan(span, error, SpanStatusCode);
    const args = Array.prototype.slice.call(arguments);
    const last = args.length - 1;
    if (typeof config.submit === 'function') {
      // A submittable: pg gives it the callback passed beside it, when it has none of its own.
      if (typeof config.callback === 'function') config.callback = wrapCallback(config.callback, end);
      else if (typeof args[last] === 'function' && last > 0) args[last] = wrapCallback(args[last], end);
      else if (typeof config.once === 'function') {
        config.once('end', () => end());
        config.once('error', end);
      }
      return callPlain(plainQuery, this, args, end);
    }
    if (typeof args[last] === 'function' && last > 0) {
      args[last] = wrapCallback(args[last], end);
      return callPlain(plainQuery, this, args, end);
    }
    if (typeof config === 'object' && typeof config.callback === 'function') {
      args[0] = { ...config, callback: wrapCallback(config.callback, end) };
      return callPlain(plainQuery, this, args, end);
    }
    const result = callPlain(plainQuery, this, args, end);
    if (result && typeof result.then === 'function') result.then(() => end(), end);
    return result;
  };

  const plainConnect = proto.connect;
  if (typeof plainConnect !== 'function') return;
  proto.connect = function connect(callback) {
    const parent = tracedParent();
    if (parent === undefined) return plainConnect.apply(this, arguments);
    const span = tracer.startSpan(
      'connect',
      { kind: SpanKind.CLIENT, attributes: connectionAttributes(this) },
      parent,
    );
    const end = (error) => endSpan(span, error, SpanStatusCode);
    if (typeof callback === 'function')
      return callPlain(plainConnect, this, [wrapCallback(callback, end)], end);
    const result = callPlain(plainConnect, this, [], end);
    if (result && typeof result.then === 'function') result.then(() => end(), end);
    return result;
  };
}

/**
 * A pool's `connect(callback)` calls back, when it had no idle client, from whatever released one:
 * another request's context. A traced caller's callback is bound to its own context, so that the
 * statement it makes (`pool.query` is `connect` then `client.query`) belongs to its trace.
 */
function patchPool(Pool, o) {
  const proto = Pool && Pool.prototype;
  if (!proto || typeof proto.connect !== 'function' || proto[PATCHED]) return;
  proto[PATCHED] = true;
  const { context, trace } = o.api;
  const plainConnect = proto.connect;
  proto.connect = function connect(callback) {
    if (typeof callback === 'function') {
      const active = context.active();
      const span = trace.getSpan(active);
      if (span !== undefined && span.isRecording())
        return plainConnect.call(this, context.bind(active, callback));
    }
    return plainConnect.apply(this, arguments);
  };
}

/** Calls pg's own function; a synchronous throw ends the span with it and is rethrown. */
function callPlain(plain, self, args, end) {
  try {
    return plain.apply(self, args);
  } catch (error) {
    end(error);
    throw error;
  }
}

function wrapCallback(callback, end) {
  return function tracedCallback(error) {
    end(error || undefined);
    return callback.apply(this, arguments);
  };
}

/** Ends `span`, once: with ERROR and the error's message, type and SQLSTATE when there is one. */
function endSpan(span, error, SpanStatusCode) {
  if (!span.isRecording()) return;
  if (error) {
    const code = error.code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code))
      span.setAttribute('db.response.status_code', code);
    span.setAttribute('error.type', typeof code === 'string' ? code : (error.name ?? 'Error'));
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(error.message ?? error) });
  }
  span.end();
}

/** The attributes of the client's connection (its parameters are known before it connects). */
function connectionAttributes(client) {
  const params = client.connectionParameters || {};
  const attributes = { 'db.system.name': 'postgresql' };
  const database = params.database ?? client.database;
  if (database) attributes['db.namespace'] = String(database);
  if (params.host !== undefined) attributes['server.address'] = String(params.host);
  if (params.port !== undefined) attributes['server.port'] = Number(params.port);
  return attributes;
}

/** The span name's target: the database, or the system when it is unknown. */
function spanTarget(client) {
  const params = client.connectionParameters || {};
  return String(params.database ?? client.database ?? 'postgresql');
}

/** The statement's first keyword, upper-cased (`SELECT`, `INSERT`, `WITH`, `BEGIN`), past leading comments. */
function operationOf(text) {
  if (text === undefined) return undefined;
  const match = /^(?:\s+|--[^\n]*\n|\/\*[\s\S]*?\*\/)*([A-Za-z]+)/.exec(text);
  return match ? match[1].toUpperCase() : undefined;
}

module.exports = { createPgInstrumentation, patchClient, patchPool, operationOf };
