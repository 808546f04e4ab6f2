// The API's shapes as the dashboard reads them (src/server/routes/*.ts). Declared here rather than
// imported: browser code must not pull server modules (and their node:* imports) into its build.
// src/server/web-types.check.ts keeps it in step: `tsc -p .` fails when the server's shapes drift.

export type Role = 'admin' | 'operator' | 'viewer' | 'deployer';
export interface WhoAmI {
  name: string;
  role: Role;
  environments?: readonly string[] | '*';
}

export interface Replica {
  id: string;
  environment: string;
  namespace: string;
  service: string;
  replica: number;
  kind: 'service' | 'database';
  state: string;
  healthy: boolean;
  health: string;
  addresses: Record<string, string>;
  /** Absent when the service has no VIP (the server's `undefined`, dropped by JSON). */
  vip?: string;
  pid: number | null;
  restarts: number;
  netns: string;
}

export type NodeKind = 'service' | 'database' | 'external';
export interface Red {
  requests: number;
  errors: number;
  rate: number;
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}
export interface ServiceMapNode extends Red {
  id: string;
  kind: NodeKind;
}
export interface ServiceMapEdge extends Red {
  from: string;
  to: string;
  sources: ('trace' | 'flow')[];
  connections: number;
}
export interface ServiceMap {
  windowMs: number;
  nodes: ServiceMapNode[];
  edges: ServiceMapEdge[];
}

export type EdgePeer =
  | { kind: 'service'; namespace: string; service: string }
  | { kind: 'host'; ip: string }
  | { kind: 'external'; ip: string };
/** A connection the firewall learned (conntrack), as `GET /v1/dashboard/flows` answers. */
export interface FlowEdge {
  src: EdgePeer;
  dst: EdgePeer;
  protocol: string;
  port: number;
  portName?: string;
  firstSeen: number;
  lastSeen: number;
  count: number;
  srcReplicas: string[];
  dstReplicas: string[];
}

export type FirewallMode = 'learn' | 'monitor' | 'protect';
export interface FirewallModes {
  global: FirewallMode;
  perService: Record<string, FirewallMode>;
}
export interface ServiceCoverage {
  service: string;
  edges: number;
  connections: number;
  newEdgesInWindow: number;
  lastNewEdgeAt?: number;
  msSinceLastNewEdge?: number;
  firstSeen?: number;
}
export interface RuleUsage {
  rule: string;
  policy: string;
  direction: 'ingress' | 'egress';
  index: number;
  provenance: 'learned' | 'declared';
  hits: number;
  edges: number;
  firstHit?: number;
  lastHit?: number;
}
export interface FirewallState {
  modes: FirewallModes;
  coverage: ServiceCoverage[];
  coverageText: string;
  rules: RuleUsage[];
}

export interface AlertEnd {
  kind: 'pod' | 'host' | 'external';
  ip: string;
  namespace?: string;
  service?: string;
  replica?: string;
}
export interface Alert {
  id: string;
  kind: 'out-of-policy' | 'new-destination' | 'db-egress' | 'rate-spike';
  src: AlertEnd;
  dst: AlertEnd;
  protocol: string;
  port: number;
  portName?: string;
  mode: FirewallMode;
  decision: 'allowed-in-monitor' | 'blocked' | 'allowed';
  decidedBy: string;
  policies?: string[];
  detail?: string;
  count: number;
  firstSeen: number;
  lastSeen: number;
}

export interface StoredPolicy {
  namespace: string;
  name: string;
  source: { kind: 'file'; file: string } | { kind: 'api' };
  appliedAt: number;
  policy: {
    metadata: { name: string; namespace: string; annotations?: Record<string, string> };
    spec: {
      podSelector: { matchLabels?: Record<string, string> };
      policyTypes?: ('Ingress' | 'Egress')[];
    };
  };
}

export interface Connection {
  client: string;
  server: string;
  protocol: string;
  port: number;
  portName?: string;
  allowedBy: string;
}
export interface DataHop {
  from: string;
  to: string;
  carries: 'request' | 'response';
  connection: Connection;
}
export interface ClassReach {
  class: string;
  origin: string;
  path: DataHop[];
}
export interface ServiceCompliance {
  service: string;
  reads: readonly string[];
  emits: readonly string[];
  classes: ClassReach[];
}
export interface DataRule {
  forbid: readonly [string, string];
  reason?: string;
}
export interface ComplianceReport {
  forwarding: 'emits' | 'held';
  rules: DataRule[];
  services: ServiceCompliance[];
  connections: Connection[];
  violations: { rule: DataRule; service: string; evidence: [ClassReach, ClassReach] }[];
}

export interface ConfigEntry {
  key: string;
  variable: string;
  value: string;
  source: string;
}

export interface LogLine {
  id?: number;
  time: number;
  service: string;
  environment?: string | null;
  namespace?: string | null;
  replica?: string | number | null;
  stream?: string | null;
  level?: string | null;
  message: string;
  traceId?: string | null;
}

export interface TraceSummary {
  traceId: string;
  rootService: string;
  rootOperation: string;
  startTimeUnixNano: string;
  durationNs: number;
  spanCount: number;
  errorCount: number;
  services: string[];
}
export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  service: string;
  operation: string;
  kind: string;
  startTimeUnixNano: string;
  durationNs: number;
  status: 'unset' | 'ok' | 'error';
  statusMessage: string;
  attributes: Record<string, unknown>;
}

/** An audited deploy, rollback or `env create` (src/delivery/history.ts DeployRecord). */
export type DeployOutcome = 'succeeded' | 'rolled-back' | 'failed' | 'no-op' | 'dry-run' | 'running';
export interface DeployRecord {
  id: string;
  environment: string;
  time: number;
  actor: string;
  via: string;
  kind: 'deploy' | 'rollback' | 'env-create';
  services: { service: string; from?: string; to?: string; change: string }[];
  outcome: DeployOutcome;
  message: string;
  finishedAt?: number;
}

/** `GET /v1/dashboard/environments` (src/server/routes/dashboard.ts). */
export interface ServiceRelease {
  service: string;
  /** null: runs from its folder (brought up by `rampart up`, not deployed). */
  release: string | null;
  replicas: number;
  running: number;
  healthy: number;
}
export interface EnvironmentInfo {
  name: string;
  stack: string;
  file: string;
  createdAt: number;
  updatedAt: number;
  /** How `env create` made it; null for `rampart up` / `deploy`. */
  source: { from?: string; overlay?: string; portOffset?: number } | null;
  services: ServiceRelease[];
}

/** One finding of `GET /v1/vuln/findings` (src/vuln/manager.ts FindingRecord), as the pages use it. */
export interface FindingRecord {
  id: string;
  service: string;
  advisory: string;
  package: string;
  aliases: string[];
  summary: string;
  severity: string;
  state: string;
  current: { version: string; loaded: boolean | 'unknown'; production: boolean; evidence: string }[];
  fixedVersion?: string;
  decision?: { action: string; reason: string };
  timeline: { at: number; event: string; detail: string }[];
}
export interface FindingsAnswer {
  findings: FindingRecord[];
  advisories: { source: string | null; count: number };
  error?: string;
}

export interface ApiErrorBody {
  code: string;
  message: string;
  hint?: string;
  details?: unknown;
}
