// The live service map: services, databases and outside addresses grouped by namespace and
// network; edges from traces (the observe service map) and the firewall's learned flows and
// alerts, coloured by firewall state. Polls every ctx.pollMs; large maps start aggregated.
import { ApiError, describeError } from '../api.ts';
import { clear, fmtAgo, fmtMs, fmtRate, h, table } from '../dom.ts';
import { MapCanvas, type Selection } from '../map/canvas.ts';
import { layoutGraph, layoutKey as keyOfLayout, type Layout } from '../map/layout.ts';
import {
  EDGE_STATES,
  EDGE_STATE_LABEL,
  aggregate,
  buildGraph,
  edgeLabel,
  namespacesOf,
  type Graph,
  type GraphEdge,
  type GraphNode,
} from '../map/model.ts';
import type {
  Alert,
  ComplianceReport,
  ConfigEntry,
  DeployRecord,
  EnvironmentInfo,
  FindingsAnswer,
  FirewallState,
  FlowEdge,
  LogLine,
  Replica,
  ServiceMap,
} from '../types.ts';
import { deployOf, shortId } from './deploys.ts';
import { poll, type View, type ViewContext } from './view.ts';

/** Above this many nodes the map opens with every namespace collapsed. */
const AGGREGATE_ABOVE = 150;
const TABLE_ROWS = 300;
const WINDOW = '5m';

export const mapView: View = {
  id: 'map',
  title: 'Map',
  mount(root, ctx) {
    return mountMap(root, ctx);
  },
};

interface Data {
  replicas: Replica[];
  map: ServiceMap | undefined;
  flows: FlowEdge[];
  alerts: Alert[];
  compliance: ComplianceReport | undefined;
  firewall: FirewallState | undefined;
}

function mountMap(root: HTMLElement, ctx: ViewContext): () => void {
  const data: Data = {
    replicas: [],
    map: undefined,
    flows: [],
    alerts: [],
    compliance: undefined,
    firewall: undefined,
  };
  let full: Graph = { nodes: [], edges: [] };
  let shown: Graph = full;
  let layout: Layout | undefined;
  let layoutKey = '';
  let collapsed: Set<string> | undefined;
  let selection: Selection;
  let query = '';
  let mapMissing = false;

  const searchInput = h('input', {
    id: 'map-search',
    type: 'search',
    placeholder: 'service or namespace',
    autocomplete: 'off',
  });
  const groupBox = h('input', { id: 'map-group', type: 'checkbox' });
  const status = h('span', { class: 'muted', 'aria-live': 'polite', 'data-map-status': '' });
  const results = h('ul', { class: 'search-results', 'aria-label': 'Matching nodes' });
  const canvas = h('canvas', {
    class: 'map-canvas',
    tabindex: '0',
    role: 'img',
    'aria-label':
      'Service map. Arrow keys pan, plus and minus zoom, 0 fits. The edge table below lists the same edges.',
  });
  const panel = h('aside', {
    class: 'detail card',
    'aria-label': 'Selection details',
    'aria-live': 'polite',
  });
  const edgeTable = h('div', { class: 'edge-table' });
  // Built only while open: 300 rows rebuilt on every poll would cost the canvas its frames.
  const edgeTableBox = h('details', { class: 'edges' }, h('summary', null, 'Edges as a table'), edgeTable);
  edgeTableBox.addEventListener('toggle', () => renderTable());
  const legend = h(
    'ul',
    { class: 'legend', 'aria-label': 'Edge colours' },
    EDGE_STATES.map((s) =>
      h('li', null, h('span', { class: `swatch ${s}`, 'aria-hidden': 'true' }), EDGE_STATE_LABEL[s]),
    ),
  );
  root.append(
    h(
      'section',
      { class: 'map-view', 'aria-labelledby': 'map-title' },
      h(
        'div',
        { class: 'toolbar' },
        h('h1', { id: 'map-title' }, 'Map'),
        h('label', { for: 'map-search' }, 'Search'),
        searchInput,
        h('label', { class: 'check' }, groupBox, 'Group by namespace'),
        h('button', { type: 'button', class: 'ghost', onclick: () => mapCanvas.fit() }, 'Fit'),
        legend,
        status,
      ),
      results,
      h('div', { class: 'map-body' }, h('div', { class: 'map-stage' }, canvas), panel),
      edgeTableBox,
    ),
  );

  const mapCanvas = new MapCanvas(canvas, (s) => select(s));
  (window as unknown as { __rampartMap?: unknown }).__rampartMap = {
    stats: mapCanvas.stats,
    graph: () => shown,
  };
  const offTheme = ctx.onThemeChange(() => mapCanvas.themeChanged());

  const select = (s: Selection) => {
    if (s?.type === 'node' && s.id.startsWith('ns:')) {
      // A collapsed namespace opens on click.
      collapsed?.delete(s.id.slice(3));
      groupBox.checked = (collapsed?.size ?? 0) > 0;
      rebuild();
      return;
    }
    selection = s;
    mapCanvas.setSelection(s);
    void renderPanel();
  };

  const model = () =>
    buildGraph({
      replicas: data.replicas,
      map: data.map,
      flows: data.flows,
      alerts: data.alerts,
      compliance: data.compliance,
      rules: data.firewall?.rules,
      alertsSince: Date.now() - 5 * 60_000,
    });
  const rebuild = () => {
    full = model();
    show();
  };
  /**
   * A poll's rebuild in two tasks: the model of thousands of edges, then (after the browser had its
   * chance to draw a frame) the layout key, the canvas and the table, so that no frame waits for both.
   */
  const rebuildFromPoll = async () => {
    const first = layout === undefined;
    full = model();
    // The first map is drawn at once: nothing is on screen yet to keep smooth.
    if (!first) await new Promise((resolve) => setTimeout(resolve, 0));
    show();
  };
  const show = () => {
    if (!collapsed) {
      collapsed = new Set(full.nodes.length > AGGREGATE_ABOVE ? namespacesOf(full) : []);
      groupBox.checked = collapsed.size > 0;
    }
    shown = aggregate(full, collapsed);
    // Laid out again only when the nodes or the calls inside a namespace change (not on every poll).
    const key = keyOfLayout(shown.nodes, shown.edges);
    if (key !== layoutKey) {
      layoutKey = key;
      layout = layoutGraph(shown.nodes, namespacesOf(shown), shown.edges);
    }
    mapCanvas.setGraph(shown, layout!);
    applySearch();
    renderTable();
    const blocked = shown.edges.filter((e) => e.state === 'blocked').length;
    status.textContent = `${full.nodes.length} nodes · ${full.edges.length} edges${blocked ? ` · ${blocked} blocked` : ''}${
      mapMissing ? ' · no traces (observe map unavailable)' : ''
    }`;
    if (selection) void renderPanel(true);
  };

  const applySearch = () => {
    clear(results);
    if (!query) {
      mapCanvas.setHighlight(undefined);
      return;
    }
    const q = query.toLowerCase();
    const hits = full.nodes.filter((n) => n.id.toLowerCase().includes(q));
    const visibleIds = new Set(shown.nodes.map((n) => n.id));
    const ids = new Set<string>();
    for (const n of hits) ids.add(visibleIds.has(n.id) ? n.id : `ns:${n.namespace}`);
    mapCanvas.setHighlight(ids);
    for (const n of hits.slice(0, 20)) {
      results.append(
        h(
          'li',
          null,
          h(
            'button',
            {
              type: 'button',
              class: 'link',
              onclick: () => {
                if (!visibleIds.has(n.id)) {
                  collapsed?.delete(n.namespace);
                  rebuild();
                }
                mapCanvas.focus(n.id);
                select({ type: 'node', id: n.id });
              },
            },
            n.id,
          ),
        ),
      );
    }
    if (hits.length === 0) results.append(h('li', { class: 'muted' }, 'no match'));
  };

  let tableKey = '';
  const renderTable = () => {
    if (!edgeTableBox.open) {
      tableKey = '';
      return;
    }
    const q = query.toLowerCase();
    const rows = shown.edges
      .filter((e) => !q || e.from.toLowerCase().includes(q) || e.to.toLowerCase().includes(q))
      .sort((a, b) => EDGE_STATES.indexOf(b.state) - EDGE_STATES.indexOf(a.state) || b.rate - a.rate)
      .slice(0, TABLE_ROWS);
    const key = rows.map((e) => `${e.id}:${e.state}:${edgeLabel(e)}`).join('|');
    if (key === tableKey) return;
    tableKey = key;
    clear(edgeTable);
    edgeTable.append(
      table(
        `Edges${rows.length < shown.edges.length ? ` (first ${rows.length} of ${shown.edges.length})` : ''}`,
        ['From', 'To', 'Firewall', 'Traffic', ''],
        rows.map((e) => [
          e.from,
          e.to,
          h(
            'span',
            { class: `state ${e.state}`, 'data-edge': e.id, 'data-state': e.state },
            EDGE_STATE_LABEL[e.state],
          ),
          edgeLabel(e) || '–',
          h(
            'button',
            { type: 'button', class: 'link', onclick: () => select({ type: 'edge', id: e.id }) },
            'Details',
          ),
        ]),
        { class: 'data' },
      ),
    );
  };

  let panelSeq = 0;
  let panelFor = '';
  const renderPanel = async (refresh = false) => {
    const seq = ++panelSeq;
    const key = selection ? `${selection.type}:${selection.id}` : '';
    if (refresh && key === panelFor && selection?.type === 'node') return; // node panels fetch; keep them
    panelFor = key;
    if (!selection) {
      clear(panel);
      panel.append(
        h('h2', null, 'Select a node or an edge'),
        h(
          'p',
          { class: 'muted' },
          'Click the map, or use the search and the edge table. Collapsed namespaces open on click.',
        ),
      );
      return;
    }
    if (selection.type === 'edge') {
      const e = shown.edges.find((x) => x.id === selection!.id);
      clear(panel);
      if (e) panel.append(...edgeDetails(e, ctx));
      return;
    }
    const n = shown.nodes.find((x) => x.id === selection!.id);
    if (!n) return;
    const extra = await nodeExtras(n, ctx);
    if (seq !== panelSeq) return;
    clear(panel);
    panel.append(...nodeDetails(n, full, data, ctx), ...extra);
  };
  void renderPanel();

  let inputTimer: ReturnType<typeof setTimeout> | undefined;
  searchInput.addEventListener('input', () => {
    clearTimeout(inputTimer);
    inputTimer = setTimeout(() => {
      query = searchInput.value.trim();
      applySearch();
      renderTable();
    }, 120);
  });
  groupBox.addEventListener('change', () => {
    collapsed = new Set(groupBox.checked ? namespacesOf(full) : []);
    rebuild();
  });

  const env = ctx.environment;
  const fast = async () => {
    const since = Date.now() - 5 * 60_000;
    const [replicas, map, flows, alerts] = await Promise.allSettled([
      ctx.api.get<{ replicas: Replica[] }>('/v1/replicas', { environment: env }),
      mapMissing
        ? Promise.resolve(undefined)
        : ctx.api.get<ServiceMap>('/v1/observe/map', { environment: env, window: WINDOW }),
      ctx.api.get<{ edges: FlowEdge[] }>('/v1/dashboard/flows', { environment: env }),
      ctx.api.get<{ alerts: Alert[] }>('/v1/alerts', { environment: env, since }),
    ]);
    if (replicas.status === 'fulfilled') data.replicas = replicas.value.replicas;
    if (map.status === 'fulfilled') data.map = map.value;
    else if (map.reason instanceof ApiError && map.reason.status === 404) mapMissing = true;
    if (flows.status === 'fulfilled') data.flows = flows.value.edges;
    if (alerts.status === 'fulfilled') data.alerts = alerts.value.alerts;
    const failed = [replicas, flows].find((r) => r.status === 'rejected');
    if (failed?.status === 'rejected') status.textContent = describeError(failed.reason);
    await rebuildFromPoll();
  };
  const slow = async () => {
    const [compliance, firewall] = await Promise.allSettled([
      ctx.api.get<ComplianceReport>('/v1/compliance', { environment: env }),
      ctx.api.get<FirewallState>('/v1/firewall', { environment: env }),
    ]);
    if (compliance.status === 'fulfilled') data.compliance = compliance.value;
    if (firewall.status === 'fulfilled') data.firewall = firewall.value;
    await rebuildFromPoll();
  };
  const stopFast = poll(fast, ctx.pollMs);
  const stopSlow = poll(slow, Math.max(10_000, ctx.pollMs * 4));
  return () => {
    stopFast();
    stopSlow();
    offTheme();
    mapCanvas.destroy();
    clearTimeout(inputTimer);
  };
}

function edgeDetails(e: GraphEdge, ctx: ViewContext): Node[] {
  const out: Node[] = [
    h('h2', null, `${e.from} → ${e.to}`),
    h(
      'p',
      null,
      h('span', { class: `state ${e.state}` }, EDGE_STATE_LABEL[e.state]),
      e.members > 1 ? ` · ${e.members} edges` : '',
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'Rate'),
      h('dd', null, e.requests ? fmtRate(e.rate) : '–'),
      h('dt', null, 'Error rate'),
      h('dd', null, e.requests ? `${(e.errorRate * 100).toFixed(1)}%` : '–'),
      h('dt', null, 'p95'),
      h('dd', null, fmtMs(e.p95Ms)),
      h('dt', null, 'Connections'),
      h('dd', null, String(e.connections)),
      h('dt', null, 'Seen in'),
      h('dd', null, e.sources.join(', ') || '–'),
    ),
  ];
  const blocked = e.alerts.find((a) => a.decision !== 'allowed');
  out.push(h('h3', null, 'Decided by'));
  if (e.connection) out.push(h('p', { 'data-decided-by': '' }, e.connection.allowedBy));
  else if (blocked) out.push(h('p', { 'data-decided-by': '' }, blocked.decidedBy));
  else
    out.push(h('p', { class: 'muted' }, 'No policy decision known yet (compliance refreshes every 10 s).'));
  if (e.rules.length) {
    out.push(
      table(
        'Rules',
        ['Rule', 'Provenance', 'Hits', 'Last hit'],
        e.rules.map((r) => [r.rule, r.provenance, String(r.hits), r.lastHit ? fmtAgo(r.lastHit) : '–']),
        { class: 'data compact' },
      ),
    );
  }
  if (e.alerts.length) {
    out.push(
      table(
        'Alerts',
        ['Kind', 'Decision', 'Port', 'Count', 'Last'],
        e.alerts.map((a) => [
          a.kind,
          a.decision,
          `${a.protocol}/${a.port}`,
          String(a.count),
          fmtAgo(a.lastSeen),
        ]),
        { class: 'data compact' },
      ),
    );
  }
  if (e.flows.length) {
    out.push(
      table(
        'Recent flows',
        ['Port', 'Count', 'Last seen', 'Replicas'],
        e.flows
          .slice()
          .sort((a, b) => b.lastSeen - a.lastSeen)
          .slice(0, 10)
          .map((f) => [
            `${f.protocol}/${f.portName ?? f.port}`,
            String(f.count),
            fmtAgo(f.lastSeen),
            `${f.srcReplicas.join(' ')} → ${f.dstReplicas.join(' ')}`,
          ]),
        { class: 'data compact' },
      ),
    );
  }
  const fromService = e.from.split('/').pop() ?? e.from;
  out.push(
    h(
      'p',
      null,
      h(
        'button',
        { type: 'button', class: 'link', onclick: () => ctx.navigate('traces', { service: fromService }) },
        `Traces from ${fromService}`,
      ),
    ),
  );
  return out;
}

function nodeDetails(n: GraphNode, graph: Graph, data: Data, ctx: ViewContext): Node[] {
  const inbound = graph.edges.filter((e) => e.to === n.id).length;
  const outbound = graph.edges.filter((e) => e.from === n.id).length;
  const mode = data.firewall?.modes.perService[n.id] ?? data.firewall?.modes.global;
  const out: Node[] = [
    h('h2', null, n.id),
    h(
      'p',
      null,
      `${n.kind} · ${n.network} network`,
      mode && n.replicas.length ? ` · firewall ${mode}` : '',
      ' · ',
      h('span', { class: n.healthy ? 'ok' : 'bad' }, n.healthy ? 'healthy' : 'unhealthy'),
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'Rate'),
      h('dd', null, n.red ? fmtRate(n.red.rate) : '–'),
      h('dt', null, 'Error rate'),
      h('dd', null, n.red ? `${(n.red.errorRate * 100).toFixed(1)}%` : '–'),
      h('dt', null, 'p95'),
      h('dd', null, fmtMs(n.red?.p95Ms)),
      h('dt', null, 'Edges'),
      h('dd', null, `${inbound} in · ${outbound} out`),
    ),
  ];
  if (n.replicas.length) {
    out.push(
      table(
        'Replicas',
        ['Replica', 'State', 'Health', 'Restarts', 'Address'],
        n.replicas.map((r) => [
          r.id,
          r.state,
          r.health,
          String(r.restarts),
          Object.values(r.addresses).join(' '),
        ]),
        { class: 'data compact' },
      ),
    );
  }
  const service = n.replicas[0]?.service;
  if (service) {
    out.push(
      h(
        'p',
        null,
        h(
          'button',
          { type: 'button', class: 'link', onclick: () => ctx.navigate('logs', { service }) },
          'All logs',
        ),
        ' · ',
        h(
          'button',
          { type: 'button', class: 'link', onclick: () => ctx.navigate('traces', { service }) },
          'Traces',
        ),
        ' · ',
        h(
          'button',
          { type: 'button', class: 'link', onclick: () => ctx.navigate('firewall', { service: n.id }) },
          'Firewall',
        ),
      ),
    );
  }
  return out;
}

async function nodeExtras(n: GraphNode, ctx: ViewContext): Promise<Node[]> {
  const r = n.replicas[0];
  if (!r) return [];
  const key = `${r.namespace}/${r.service}`;
  const [envs, history, findings, config, logs] = await Promise.allSettled([
    ctx.api.get<{ environments: EnvironmentInfo[] }>('/v1/dashboard/environments'),
    ctx.api.get<{ deploys: DeployRecord[] }>(
      `/v1/environments/${encodeURIComponent(ctx.environment)}/history`,
      { service: key },
    ),
    ctx.api.get<FindingsAnswer>('/v1/vuln/findings', { environment: ctx.environment }),
    ctx.api.get<{ entries: ConfigEntry[] }>('/v1/config', {
      environment: ctx.environment,
      namespace: r.namespace,
      service: r.service,
    }),
    ctx.api.lines<LogLine>('/v1/logs', {
      environment: ctx.environment,
      namespace: r.namespace,
      service: r.service,
      tail: 30,
    }),
  ]);
  const out: Node[] = [];
  // Release: what it runs, and the deploy that put it there.
  out.push(h('h3', null, 'Release'));
  if (envs.status === 'fulfilled') {
    const svc = envs.value.environments
      .find((e) => e.name === ctx.environment)
      ?.services.find((s) => s.service === key);
    const release = svc?.release ?? null;
    const d = history.status === 'fulfilled' ? deployOf(history.value.deploys, key, release) : undefined;
    out.push(
      h(
        'dl',
        { class: 'facts', 'data-node-release': release ?? '' },
        h('dt', null, 'Release'),
        h(
          'dd',
          null,
          release
            ? h('code', { title: release }, shortId(release))
            : 'none: runs from its folder (not deployed)',
        ),
        h('dt', null, 'Deployed'),
        h('dd', null, d ? `${fmtAgo(d.time)} by ${d.actor} (${d.via}), ${d.kind}` : '–'),
      ),
      h(
        'p',
        null,
        h(
          'button',
          { type: 'button', class: 'link', onclick: () => ctx.navigate('deploys', { service: key }) },
          'Deploy history',
        ),
      ),
    );
  } else out.push(h('p', { class: 'error' }, describeError(envs.reason)));
  // Vulnerability findings of the release it runs (findings name the bare service).
  out.push(h('h3', null, 'Findings'));
  if (findings.status === 'fulfilled') {
    const mine = findings.value.findings.filter((f) => f.service === r.service || f.service === key);
    const open = mine.filter((f) => f.state !== 'resolved');
    const source = findings.value.advisories.source;
    out.push(
      h(
        'p',
        { class: open.length ? 'bad' : 'muted', 'data-node-findings': String(open.length) },
        mine.length
          ? `${open.length} open of ${mine.length}`
          : source
            ? `No finding (${findings.value.advisories.count} advisories checked).`
            : 'No advisory source configured (RAMPART_ADVISORIES): not scanned.',
      ),
    );
    if (mine.length)
      out.push(
        table(
          'Findings',
          ['Severity', 'Package', 'Advisory', 'Fix', 'State'],
          mine.map((f) => [
            f.severity,
            `${f.package}@${f.current.map((c) => c.version).join(', ') || '?'}`,
            f.advisory,
            f.fixedVersion ?? 'no fix',
            f.state,
          ]),
          { class: 'data compact' },
        ),
      );
    out.push(
      h(
        'p',
        null,
        h(
          'button',
          { type: 'button', class: 'link', onclick: () => ctx.navigate('vulnerabilities') },
          'All findings',
        ),
      ),
    );
  } else out.push(h('p', { class: 'error' }, describeError(findings.reason)));
  if (config.status === 'fulfilled') {
    out.push(
      table(
        'Config (secrets redacted)',
        ['Key', 'Value', 'Source'],
        config.value.entries.map((c) => [c.key, h('code', null, c.value), c.source]),
        { class: 'data compact' },
      ),
    );
  }
  if (logs.status === 'fulfilled') {
    out.push(h('h3', null, 'Recent logs'));
    out.push(
      h(
        'pre',
        { class: 'log small' },
        logs.value
          .map((l) => `${new Date(l.time).toISOString().slice(11, 19)} ${l.replica ?? ''} ${l.message}\n`)
          .join('') || '(no lines)',
      ),
    );
  }
  return out;
}
