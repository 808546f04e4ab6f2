/* global module, require */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS preload: require is the point */
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
 * @param o.isSuppressed (context) => whether tracing is suppressed in it
 */
const { untracedIn } = require('./untraced.cjs');

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
  const { SpanKind, SpanStatusCode } = api;
  const traced = tracedParent(o);

  const plainQuery = proto.query;
  proto.query = function query(config) {
    const parent = traced();
    if (parent === undefined || config == null) return plainQuery.apply(this, arguments);
    const args = Array.prototype.slice.call(arguments);
    const last = args.length - 1;
    const ends = howItEnds(config, args);
    if (ends === undefined) return plainQuery.apply(this, arguments);
    const text =
      typeof config === 'string' ? config : typeof config.text === 'string' ? config.text : undefined;
    const operation = operationOf(text);
    const attributes = connectionAttributes(this);
    if (operation !== undefined) attributes['db.operation.name'] = operation;
    if (text !== undefined) attributes['db.query.text'] = text;
    const target = spanTarget(this);
    const span = tracer.startSpan(
      operation === undefined ? target : `${operation} ${target}`,
      { kind: SpanKind.CLIENT, attributes },
      parent,
    );
    const end = (error) => endSpan(span, error, SpanStatusCode);
    if (ends === 'own callback') config.callback = wrapCallback(config.callback, end);
    else if (ends === 'callback') args[last] = wrapCallback(args[last], end);
    else if (ends === 'events') {
      config.once('end', () => end());
      config.once('error', end);
    } else if (ends === 'config callback')
      args[0] = { ...config, callback: wrapCallback(config.callback, end) };
    return callPlain(plainQuery, this, args, ends === 'promise' ? end : undefined, end);
  };

  const plainConnect = proto.connect;
  if (typeof plainConnect !== 'function') return;
  proto.connect = function connect(callback) {
    const parent = traced();
    if (parent === undefined) return plainConnect.apply(this, arguments);
    const span = tracer.startSpan(
      'connect',
      { kind: SpanKind.CLIENT, attributes: connectionAttributes(this) },
      parent,
    );
    const end = (error) => endSpan(span, error, SpanStatusCode);
    return typeof callback === 'function'
      ? callPlain(plainConnect, this, [wrapCallback(callback, end)], undefined, end)
      : callPlain(plainConnect, this, [], end, end);
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
  const { context } = o.api;
  const traced = tracedParent(o);
  const plainConnect = proto.connect;
  proto.connect = function connect(callback) {
    const parent = typeof callback === 'function' ? traced() : undefined;
    return parent === undefined
      ? plainConnect.apply(this, arguments)
      : plainConnect.call(this, context.bind(parent, callback));
  };
}

/**
 * How a statement's end is seen, from `query`'s arguments: pg's three shapes. Undefined for a
 * submittable with neither callback nor events, which gets no span.
 */
function howItEnds(config, args) {
  const last = args.length - 1;
  if (typeof config.submit === 'function') {
    // pg gives a submittable the callback passed beside it only when it has none of its own.
    if (typeof config.callback === 'function') return 'own callback';
    if (last > 0 && typeof args[last] === 'function') return 'callback';
    return typeof config.once === 'function' ? 'events' : undefined;
  }
  if (last > 0 && typeof args[last] === 'function') return 'callback';
  if (typeof config === 'object' && typeof config.callback === 'function') return 'config callback';
  return 'promise';
}

/**
 * () => the active context when a span made now would be recorded (untraced.cjs: under a recording
 * span, tracing not suppressed), else undefined.
 */
function tracedParent(o) {
  const { context, trace } = o.api;
  return () => {
    const active = context.active();
    return untracedIn(trace, o.isSuppressed, active) ? undefined : active;
  };
}

/**
 * Calls pg's own function; a synchronous throw ends the span with it and is rethrown. With
 * `onPromise`, a promise pg returns is observed by a `then` of its own (the caller keeps it, and
 * its rejection, as they were).
 */
function callPlain(plain, self, args, onPromise, end) {
  let result;
  try {
    result = plain.apply(self, args);
  } catch (error) {
    end(error);
    throw error;
  }
  if (onPromise && result && typeof result.then === 'function') result.then(() => onPromise(), onPromise);
  return result;
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
