/**
 * The control plane's state, behind one interface with two drivers: the embedded default
 * (better-sqlite3, one file in the state directory) and PostgreSQL/CockroachDB (RAMPART_DATABASE_URL).
 * `runStoreContract(makeStore)` in store.contract.ts is run against both.
 *
 * Values that are JSON documents (`spec`, `data`) are stored as text/JSONB and returned parsed.
 */

/** Desired state of one environment: the resolved stack and its network allocation. */
export interface DeploymentRecord {
  environment: string;
  /** Absolute path of the stack file it came from. */
  stackFile: string;
  /** The ResolvedStack as JSON. */
  spec: unknown;
  /** The environment's address plan and per-replica / per-service address allocations, as JSON. */
  network: unknown;
  createdAt: number;
  updatedAt: number;
}

/** Observed state of one replica, written by the supervisor on every transition. */
export interface ReplicaRecord {
  environment: string;
  namespace: string;
  service: string;
  index: number;
  /** `pending | starting | running | backoff | stopping | stopped | failed` */
  state: string;
  healthy: boolean;
  pid: number | null;
  /** Process start time (clock ticks since boot, field 22 of /proc/<pid>/stat), guards against pid reuse. */
  pidStartTime: number | null;
  restarts: number;
  /** Addresses per network, e.g. `{ app: '198.18.0.5' }`. */
  addresses: Record<string, string>;
  netns: string;
  logFile: string;
  updatedAt: number;
}

export interface SecretRecord {
  environment: string;
  /** Service (or database) the secret belongs to. */
  owner: string;
  key: string;
  /** Encrypted value (see secrets.ts); the store never sees plaintext. */
  ciphertext: string;
  updatedAt: number;
}

export interface EventRecord {
  id: number;
  time: number;
  environment: string;
  /** e.g. `replica.transition`, `replica.health`, `stack.up`, `stack.down` */
  kind: string;
  /** e.g. `prod/web-0` */
  subject: string;
  message: string;
  data: unknown;
}

/**
 * A JSON document of some capability (a NetworkPolicy, a firewall mode, a learned edge, an alert
 * group), keyed by (kind, environment, key). Capabilities keep their own shapes; the store keeps
 * one table and one contract for all of them.
 */
export interface DocumentRecord {
  kind: string;
  environment: string;
  key: string;
  value: unknown;
  updatedAt: number;
}

export interface EventQuery {
  environment?: string;
  /** Only events with id greater than this (for tailing). */
  afterId?: number;
  sinceTime?: number;
  limit?: number;
}

export interface Store {
  /** Create or upgrade the schema; idempotent. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  putDeployment(record: Omit<DeploymentRecord, 'createdAt' | 'updatedAt'>, now: number): Promise<void>;
  getDeployment(environment: string): Promise<DeploymentRecord | undefined>;
  listDeployments(): Promise<DeploymentRecord[]>;
  deleteDeployment(environment: string): Promise<void>;

  /** Upsert by (environment, namespace, service, index). */
  putReplica(record: ReplicaRecord): Promise<void>;
  listReplicas(environment?: string): Promise<ReplicaRecord[]>;
  deleteReplica(key: Pick<ReplicaRecord, 'environment' | 'namespace' | 'service' | 'index'>): Promise<void>;
  deleteReplicas(environment: string): Promise<void>;

  /** Upsert by (environment, owner, key). */
  putSecret(record: Omit<SecretRecord, 'updatedAt'>, now: number): Promise<void>;
  listSecrets(environment: string, owner?: string): Promise<SecretRecord[]>;
  deleteSecrets(environment: string): Promise<void>;

  /** Upsert by (kind, environment, key). */
  putDocument(record: Omit<DocumentRecord, 'updatedAt'>, now: number): Promise<void>;
  getDocument(kind: string, environment: string, key: string): Promise<DocumentRecord | undefined>;
  /** Ascending by key. */
  listDocuments(kind: string, environment: string): Promise<DocumentRecord[]>;
  /** Returns whether it existed. */
  deleteDocument(kind: string, environment: string, key: string): Promise<boolean>;
  /** Every document of the environment (of one kind, if given). */
  deleteDocuments(environment: string, kind?: string): Promise<void>;

  appendEvent(event: Omit<EventRecord, 'id'>): Promise<number>;
  /** Ascending by id. */
  listEvents(query: EventQuery): Promise<EventRecord[]>;
  /** Drop events older than `beforeTime`; returns how many were removed. */
  pruneEvents(beforeTime: number): Promise<number>;
}
