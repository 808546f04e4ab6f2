import { createHash } from 'node:crypto';
import type { Finding, Inventory, InstalledPackage } from './types.ts';

/** `pkg:npm/%40scope/name@1.0.0` (purl-spec: the scope's `@` is encoded, so is the version). */
export function npmPurl(name: string, version: string): string {
  const parts = name.split('/').map((p) => encodeURIComponent(p));
  return `pkg:npm/${parts.join('/')}@${encodeURIComponent(version)}`;
}

export interface SbomOptions {
  /** ISO time for `metadata.timestamp`; omitted when absent (reproducible output). */
  timestamp?: string;
  /** Findings to record as CycloneDX `vulnerabilities`. */
  findings?: readonly Finding[];
  toolVersion?: string;
}

const CDX_SEVERITY = {
  critical: 'critical',
  high: 'high',
  moderate: 'medium',
  low: 'low',
  unknown: 'unknown',
};

/**
 * CycloneDX 1.6 JSON of an inventory: one component per installed name@version with an explicit
 * `bom-ref` (the inventory ref), its purl, npm taxonomy properties (install paths, development), the
 * dependency graph, and optionally the findings as `vulnerabilities`. Same inventory, same bytes: the
 * serial number is derived from the content.
 */
export function renderCycloneDx(inv: Inventory, opts: SbomOptions = {}): Record<string, unknown> {
  const rootRef = 'root';
  const components = inv.packages.map((p) => component(p));
  const dependencies = [
    { ref: rootRef, dependsOn: [...inv.rootDependencies] },
    ...inv.packages.map((p) => ({ ref: p.ref, dependsOn: [...p.dependencies] })),
  ];
  const rootName = inv.root.name || 'unnamed';
  const bom: Record<string, unknown> = {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: '',
    version: 1,
    metadata: {
      ...(opts.timestamp && { timestamp: opts.timestamp }),
      lifecycles: [{ phase: 'operations' }],
      tools: {
        components: [
          { type: 'application', name: 'rampart', ...(opts.toolVersion && { version: opts.toolVersion }) },
        ],
      },
      component: {
        type: 'application',
        'bom-ref': rootRef,
        name: rootName,
        ...(inv.root.version && { version: inv.root.version }),
        properties: [
          { name: 'rampart:lockfile', value: inv.lockfile },
          { name: 'rampart:lockfile:format', value: inv.format },
        ],
      },
    },
    components,
    dependencies,
  };
  if (opts.findings && opts.findings.length > 0) {
    bom.vulnerabilities = opts.findings.map((f) => ({
      'bom-ref': `vuln:${f.key}`,
      id: f.advisory,
      source: { name: 'OSV', url: `https://osv.dev/vulnerability/${encodeURIComponent(f.advisory)}` },
      ...(f.aliases.length > 0 && {
        references: f.aliases.map((a) => ({ id: a, source: { name: a.startsWith('CVE-') ? 'NVD' : 'OSV' } })),
      }),
      ratings: [
        {
          severity: CDX_SEVERITY[f.severity],
          ...(f.score !== undefined && { score: f.score, method: 'CVSSv31' }),
        },
      ],
      ...(f.summary && { description: f.summary }),
      ...(f.fixedVersion
        ? { recommendation: `Upgrade ${f.package} to ${f.fixedVersion} or later.` }
        : { recommendation: `No fixed version of ${f.package} is published yet.` }),
      affects: [{ ref: `${f.package}@${f.version}`, versions: [{ version: f.version, status: 'affected' }] }],
    }));
  }
  const digest = createHash('sha256').update(JSON.stringify(bom)).digest('hex');
  bom.serialNumber = `urn:uuid:${digest.slice(0, 8)}-${digest.slice(8, 12)}-5${digest.slice(13, 16)}-a${digest.slice(17, 20)}-${digest.slice(20, 32)}`;
  return bom;
}

function component(p: InstalledPackage): Record<string, unknown> {
  const slash = p.name.startsWith('@') ? p.name.indexOf('/') : -1;
  const properties = [
    ...p.paths.map((path) => ({ name: 'cdx:npm:package:path', value: path })),
    ...(p.dev ? [{ name: 'cdx:npm:package:development', value: 'true' }] : []),
    ...p.aliases.map((a) => ({ name: 'rampart:npm:alias', value: a })),
  ];
  return {
    type: p.workspace ? 'application' : 'library',
    'bom-ref': p.ref,
    ...(slash > 0 ? { group: p.name.slice(0, slash), name: p.name.slice(slash + 1) } : { name: p.name }),
    version: p.version,
    // Dev dependencies are not part of what runs: CycloneDX's `excluded` scope says exactly that.
    scope: p.dev ? 'excluded' : p.optional ? 'optional' : 'required',
    ...(!p.workspace && { purl: npmPurl(p.name, p.version) }),
    ...(properties.length > 0 && { properties }),
  };
}
