import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../platform/clock.ts';
import { RampartError } from '../platform/errors.ts';
import type { Store } from '../store/index.ts';
import { parse } from './routes/validate.ts';

/**
 * Who may do what. The daemon's token file holds the `admin` token (root on the host can read it);
 * every other token is created through the API with one role and stored only as a SHA-256 hash.
 *
 * - `admin`: everything, including tokens.
 * - `operator`: everything but tokens (deploys, policies, firewall modes, down).
 * - `viewer`: reads only (the dashboard for people who look but do not touch).
 * - `deployer`: only deploys, only to the environments it is scoped to (what a CI job holds).
 */
export const ROLES = ['admin', 'operator', 'viewer', 'deployer'] as const;
export type Role = (typeof ROLES)[number];

/** What a route needs; routes declare it with `{ config: { permission } }`, else the method decides. */
export type Permission = 'read' | 'write' | 'secrets' | 'deploy' | 'admin' | 'authenticated';

export interface Principal {
  /** The token's name (a person or a CI job), or `root` for the daemon's own token. */
  name: string;
  role: Role;
  /** Environments a deployer may deploy to; `'*'` for the other roles. */
  environments: readonly string[] | '*';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    permission?: Permission;
    /** Routes that answer without a token (health, the dashboard's static files). */
    public?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(['read', 'write', 'secrets', 'deploy', 'admin', 'authenticated']),
  operator: new Set(['read', 'write', 'secrets', 'deploy', 'authenticated']),
  viewer: new Set(['read', 'authenticated']),
  deployer: new Set(['deploy', 'authenticated']),
};

/** Pure: may `principal` use `permission` (on `environment`, when the request names one)? */
export function allows(principal: Principal, permission: Permission, environment?: string): boolean {
  if (!GRANTS[principal.role].has(permission)) return false;
  if (principal.environments === '*' || permission === 'authenticated') return true;
  // A scoped token must name its environment: a deploy without one would fall back to the default.
  return environment !== undefined && principal.environments.includes(environment);
}

/** The permission a request needs: the route's declaration, else read for GET/HEAD and write otherwise. */
export function permissionOf(method: string, declared: Permission | undefined): Permission {
  if (declared) return declared;
  return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
}

/** The environment a request acts on: `:env` in the path, `environment` in the body or the query. */
export function environmentOf(req: Pick<FastifyRequest, 'params' | 'body' | 'query'>): string | undefined {
  const pick = (o: unknown, key: string): string | undefined => {
    const v = o && typeof o === 'object' ? (o as Record<string, unknown>)[key] : undefined;
    return typeof v === 'string' ? v : undefined;
  };
  return (
    pick(req.params, 'env') ??
    pick(req.body, 'environment') ??
    pick(req.query, 'environment') ??
    pick(req.query, 'env')
  );
}

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  environments: string[] | '*';
  createdAt: number;
  createdBy: string;
  lastUsedAt?: number;
}

interface StoredToken extends TokenRecord {
  /** SHA-256 of the whole token, hex. */
  hash: string;
}

const TOKEN_KIND = 'api-token';
/** Tokens are global to the daemon, not to one environment. */
const GLOBAL = '';
const TOKEN_PREFIX = 'rpt';
/** lastUsedAt is written at most this often per token (a busy CI token is not a write per request). */
const LAST_USED_RESOLUTION_MS = 60_000;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function equalHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export const CreateTokenBody = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'a name of letters, digits, . _ @ - (at most 64)'),
  role: z.enum(ROLES),
  environments: z.array(z.string().regex(/^[a-z][a-z0-9-]{0,7}$/, 'an environment name')).optional(),
});
export type CreateTokenRequest = z.infer<typeof CreateTokenBody>;

/**
 * The daemon's tokens: the root token from the token file, and named tokens kept hashed in the store.
 * A token reads `rpt_<id>_<secret>`: the id finds the record without scanning, the hash decides.
 */
export class TokenRegistry {
  constructor(
    private readonly opts: {
      store: Pick<Store, 'putDocument' | 'getDocument' | 'listDocuments' | 'deleteDocument'>;
      clock: Clock;
      rootToken: string;
    },
  ) {}

  async authenticate(bearer: string | undefined): Promise<Principal | undefined> {
    if (!bearer) return undefined;
    const root = Buffer.from(this.opts.rootToken);
    const given = Buffer.from(bearer);
    if (root.length === given.length && timingSafeEqual(root, given)) {
      return { name: 'root', role: 'admin', environments: '*' };
    }
    const match = /^rpt_([a-f0-9]{16})_[A-Za-z0-9_-]{43}$/.exec(bearer);
    if (!match) return undefined;
    const doc = await this.opts.store.getDocument(TOKEN_KIND, GLOBAL, match[1]!);
    const record = doc?.value as StoredToken | undefined;
    if (!record || !equalHex(record.hash, sha256(bearer))) return undefined;
    const now = this.opts.clock.now();
    if (!record.lastUsedAt || now - record.lastUsedAt > LAST_USED_RESOLUTION_MS) {
      await this.opts.store.putDocument(
        { kind: TOKEN_KIND, environment: GLOBAL, key: record.id, value: { ...record, lastUsedAt: now } },
        now,
      );
    }
    return { name: record.name, role: record.role, environments: record.environments };
  }

  /** Creates a token; the secret is returned once and never stored. */
  async create(req: CreateTokenRequest, by: Principal): Promise<{ token: string; record: TokenRecord }> {
    const scoped = req.role === 'deployer';
    if (scoped && !req.environments?.length) {
      throw new RampartError(
        'RAMPART_E_BAD_REQUEST',
        'a deployer token needs the environments it may deploy to',
        {
          field: 'environments',
          fix: 'name them: `rampart token create ci --role deployer --environments staging`',
        },
      );
    }
    if (!scoped && req.environments?.length) {
      throw new RampartError('RAMPART_E_BAD_REQUEST', `a ${req.role} token is not scoped to environments`, {
        field: 'environments',
        fix: 'leave out --env, or create a deployer token',
      });
    }
    const existing = await this.list();
    if (existing.some((t) => t.name === req.name)) {
      throw new RampartError('RAMPART_E_CONFLICT', `a token named ${req.name} exists`, {
        field: 'name',
        fix: `revoke it first (\`rampart token revoke ${req.name}\`) or choose another name`,
      });
    }
    const id = randomBytes(8).toString('hex');
    const token = `${TOKEN_PREFIX}_${id}_${randomBytes(32).toString('base64url')}`;
    const now = this.opts.clock.now();
    const record: TokenRecord = {
      id,
      name: req.name,
      role: req.role,
      environments: scoped ? [...new Set(req.environments)].sort() : '*',
      createdAt: now,
      createdBy: by.name,
    };
    const stored: StoredToken = { ...record, hash: sha256(token) };
    await this.opts.store.putDocument({ kind: TOKEN_KIND, environment: GLOBAL, key: id, value: stored }, now);
    return { token, record };
  }

  async list(): Promise<TokenRecord[]> {
    const docs = await this.opts.store.listDocuments(TOKEN_KIND, GLOBAL);
    return docs
      .map((d) => {
        const { hash: _hash, ...record } = d.value as StoredToken;
        return record;
      })
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Revokes by id or by name; the token stops working on its next request. */
  async revoke(idOrName: string): Promise<TokenRecord> {
    const record = (await this.list()).find((t) => t.id === idOrName || t.name === idOrName);
    if (!record) {
      throw new RampartError('RAMPART_E_NOT_FOUND', `no token ${idOrName}`, {
        field: 'token',
        fix: 'list them with `rampart token ls`',
      });
    }
    await this.opts.store.deleteDocument(TOKEN_KIND, GLOBAL, record.id);
    return record;
  }
}

/**
 * Authentication (401) on every request but public routes, authorization (403) once the body is
 * parsed, since a deploy's environment may be in it.
 */
export function registerAuth(app: FastifyInstance, tokens: TokenRegistry): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config?.public) return;
    const header = req.headers.authorization;
    const principal = await tokens.authenticate(header?.startsWith('Bearer ') ? header.slice(7) : undefined);
    if (!principal) {
      const e = new RampartError('RAMPART_E_UNAUTHORIZED', 'missing or wrong API token');
      return reply.code(e.status).send({ error: e.toJSON() });
    }
    req.principal = principal;
  });
  app.addHook('preHandler', async (req, reply) => {
    if (req.routeOptions.config?.public) return;
    const principal = req.principal!;
    const permission = permissionOf(req.method, req.routeOptions.config?.permission);
    const environment = environmentOf(req);
    if (!allows(principal, permission, environment)) {
      const e = new RampartError(
        'RAMPART_E_FORBIDDEN',
        `token ${principal.name} (role ${principal.role}${
          principal.environments === '*' ? '' : `, environments ${principal.environments.join(', ')}`
        }) may not ${permission === 'write' ? 'change anything' : permission}${
          environment && permission === 'deploy' ? ` in environment ${environment}` : ''
        }: ${req.method} ${req.routeOptions.url ?? req.url}`,
        { permission, role: principal.role },
      );
      return reply.code(e.status).send({ error: e.toJSON() });
    }
  });

  app.get('/v1/whoami', { config: { permission: 'authenticated' } }, async (req) => ({
    name: req.principal!.name,
    role: req.principal!.role,
    environments: req.principal!.environments,
  }));
  app.get('/v1/tokens', { config: { permission: 'admin' } }, async () => ({ tokens: await tokens.list() }));
  app.post('/v1/tokens', { config: { permission: 'admin' } }, async (req) => {
    return tokens.create(parse(CreateTokenBody, req.body), req.principal!);
  });
  app.delete<{ Params: { id: string } }>(
    '/v1/tokens/:id',
    { config: { permission: 'admin' } },
    async (req) => ({
      revoked: await tokens.revoke(req.params.id),
    }),
  );
}
