// Pure: where each node sits. Namespaces are boxes laid out in rows; inside a box the app network
// is on the left and the database network a column on the right, so the two networks read apart at
// a glance. A namespace of up to LAYERED_MAX services is laid out in layers along its calls
// (callers left of callees, the columns wide enough for an edge label between them), so edges fan
// out instead of crossing each other's labels; a bigger one, or one without edges, is a grid.
// Linear-ish in nodes and edges (500 services and 5,000 edges lay out in well under a frame).
import type { GraphEdge, GraphNode } from './model.ts';

export interface Point {
  x: number;
  y: number;
}
export interface Box {
  namespace: string;
  x: number;
  y: number;
  w: number;
  h: number;
  /** Where the database column starts, when the namespace has databases. */
  dbX: number | undefined;
}
export interface Layout {
  positions: Map<string, Point>;
  boxes: Box[];
  width: number;
  height: number;
}

export const CELL_W = 130;
export const CELL_H = 74;
/** Column pitch of a layered namespace: a node plus an edge label ("1.2/s · 0% err · p95 12ms"). */
export const LAYER_W = 200;
export const LAYERED_MAX = 40;
const PAD = 34;
const GAP = 40;

type Edge = Pick<GraphEdge, 'from' | 'to' | 'sources'>;

/** Edges that say how services call each other: traced or seen by the firewall, not alerts only. */
export function structural(e: Edge): boolean {
  return e.from !== e.to && e.sources.some((s) => s !== 'alert');
}

/**
 * A key that changes when the layout would: the nodes, and the calls inside namespaces. Computed on
 * every poll, so the calls are hashed (order-free, no sort of 5,000 strings) rather than listed.
 */
export function layoutKey(nodes: readonly GraphNode[], edges: readonly Edge[]): string {
  const ns = new Map(nodes.map((n) => [n.id, n.namespace]));
  let count = 0;
  let sum = 0;
  let xor = 0;
  for (const e of edges) {
    if (!structural(e)) continue;
    const a = ns.get(e.from);
    if (a === undefined || a !== ns.get(e.to)) continue;
    const h = fnv1a(`${e.from}>${e.to}`);
    count++;
    sum = (sum + h) >>> 0;
    xor = (xor ^ h) >>> 0;
  }
  return `${nodes
    .map((n) => n.id)
    .sort()
    .join('\n')}|${count}:${sum}:${xor}`;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Columns of a namespace's app nodes by call depth: a node's column is one past the deepest of its
 * callers (cycles broken at the node with the fewest callers left); nodes without calls inside the
 * namespace go in the last column. A column taller than `maxRows` is split into several, so the map
 * stays wider than tall, like the screen.
 */
function layers(
  app: readonly GraphNode[],
  edges: readonly Edge[],
): { nodes: GraphNode[]; stagger: boolean }[] {
  const ids = new Set(app.map((n) => n.id));
  const preds = new Map<string, Set<string>>(app.map((n) => [n.id, new Set()]));
  const succs = new Map<string, Set<string>>(app.map((n) => [n.id, new Set()]));
  for (const e of edges) {
    if (!structural(e) || !ids.has(e.from) || !ids.has(e.to)) continue;
    preds.get(e.to)!.add(e.from);
    succs.get(e.from)!.add(e.to);
  }
  const rank = new Map<string, number>();
  const left = new Map(app.map((n) => [n.id, preds.get(n.id)!.size]));
  const byLabel = [...app].sort((a, b) => a.label.localeCompare(b.label));
  const connected = byLabel.filter((n) => preds.get(n.id)!.size + succs.get(n.id)!.size > 0);
  const queue = connected.filter((n) => left.get(n.id) === 0).map((n) => n.id);
  const done = new Set<string>();
  while (done.size < connected.length) {
    if (queue.length === 0) {
      // A cycle: start from the node with the fewest unplaced callers.
      let pick: GraphNode | undefined;
      for (const n of connected)
        if (!done.has(n.id) && (!pick || left.get(n.id)! < left.get(pick.id)!)) pick = n;
      queue.push(pick!.id);
    }
    const id = queue.shift()!;
    if (done.has(id)) continue;
    done.add(id);
    let r = 0;
    for (const p of preds.get(id)!) if (done.has(p) && p !== id) r = Math.max(r, rank.get(p)! + 1);
    rank.set(id, r);
    for (const s of succs.get(id)!) {
      left.set(s, left.get(s)! - 1);
      if (left.get(s) === 0 && !done.has(s)) queue.push(s);
    }
  }
  const depth = Math.max(0, ...rank.values());
  const columns: GraphNode[][] = Array.from({ length: depth + 1 }, () => []);
  const lonely: GraphNode[] = [];
  for (const n of byLabel) {
    const r = rank.get(n.id);
    if (r === undefined) lonely.push(n);
    else columns[r]!.push(n);
  }
  if (lonely.length) {
    if (connected.length === 0) columns[0] = lonely;
    else columns[columns.length - 1]!.push(...lonely);
  }
  // Order each column by where its callers sit (fewer crossings), then by name.
  const row = new Map<string, number>();
  columns.forEach((col, c) => {
    if (c > 0) {
      const bary = (n: GraphNode) => {
        const ps = [...preds.get(n.id)!].filter((p) => row.has(p));
        return ps.length ? ps.reduce((s, p) => s + row.get(p)!, 0) / ps.length : Number.POSITIVE_INFINITY;
      };
      const key = new Map(col.map((n) => [n.id, bary(n)]));
      col.sort((a, b) => key.get(a.id)! - key.get(b.id)! || a.label.localeCompare(b.label));
    }
    col.forEach((n, i) => row.set(n.id, i / Math.max(1, col.length - 1)));
  });
  const maxRows = Math.max(4, Math.ceil(Math.sqrt(app.length * 2)));
  const out: { nodes: GraphNode[]; stagger: boolean }[] = [];
  for (const col of columns) {
    if (col.length === 0) continue;
    const parts = Math.ceil(col.length / maxRows);
    const per = Math.ceil(col.length / parts);
    for (let p = 0; p < parts; p++)
      out.push({ nodes: col.slice(p * per, (p + 1) * per), stagger: parts > 1 && p % 2 === 1 });
  }
  return out;
}

export function layoutGraph(
  nodes: readonly GraphNode[],
  namespaces: readonly string[],
  edges: readonly Edge[] = [],
): Layout {
  const byNs = new Map<string, { app: GraphNode[]; db: GraphNode[] }>();
  for (const ns of namespaces) byNs.set(ns, { app: [], db: [] });
  for (const n of nodes) {
    const g = byNs.get(n.namespace) ?? { app: [], db: [] };
    byNs.set(n.namespace, g);
    (n.network === 'db' ? g.db : g.app).push(n);
  }
  const sized = [...byNs].map(([namespace, g]) => {
    g.app.sort((a, b) => a.label.localeCompare(b.label));
    g.db.sort((a, b) => a.label.localeCompare(b.label));
    const dbCols = g.db.length ? 1 : 0;
    const layered =
      g.app.length > 1 && g.app.length <= LAYERED_MAX && namespace !== 'outside' && edges.length > 0
        ? layers(g.app, edges)
        : undefined;
    if (layered && layered.length > 1) {
      const staggered = layered.some((c) => c.stagger);
      const rows = Math.max(1, g.db.length, ...layered.map((c) => c.nodes.length + (c.stagger ? 0.5 : 0)));
      const height = Math.max(rows, staggered ? 1.5 : 1) * CELL_H;
      return {
        namespace,
        g,
        cols: layered.length,
        pitch: LAYER_W,
        layered,
        w: layered.length * LAYER_W + dbCols * CELL_W + PAD * 2 + (dbCols ? GAP / 2 : 0),
        h: height + PAD * 2,
      };
    }
    const cols = Math.max(1, Math.ceil(Math.sqrt(g.app.length * 1.5)));
    const rows = Math.max(1, Math.ceil(g.app.length / cols), g.db.length);
    return {
      namespace,
      g,
      cols,
      pitch: CELL_W,
      layered: undefined,
      w: cols * CELL_W + dbCols * CELL_W + PAD * 2 + (dbCols ? GAP / 2 : 0),
      h: rows * CELL_H + PAD * 2,
    };
  });
  const area = sized.reduce((s, b) => s + (b.w + GAP) * (b.h + GAP), 0);
  const rowWidth = Math.max(Math.sqrt(area) * 1.6, ...sized.map((b) => b.w));
  const positions = new Map<string, Point>();
  const boxes: Box[] = [];
  let x = 0;
  let y = 0;
  let rowH = 0;
  let width = 0;
  for (const b of sized) {
    if (x > 0 && x + b.w > rowWidth) {
      x = 0;
      y += rowH + GAP;
      rowH = 0;
    }
    const dbX = b.g.db.length ? x + PAD + b.cols * b.pitch + GAP / 2 : undefined;
    boxes.push({ namespace: b.namespace, x, y, w: b.w, h: b.h, dbX });
    const inner = b.h - PAD * 2;
    if (b.layered) {
      // Each column centred vertically; a split column's second half sits half a row lower, so
      // edges to it pass between the nodes of the first.
      b.layered.forEach((col, c) => {
        const colH = col.nodes.length * CELL_H;
        const top = y + PAD + (inner - colH - (b.layered!.some((k) => k.stagger) ? CELL_H / 2 : 0)) / 2;
        col.nodes.forEach((n, i) => {
          positions.set(n.id, {
            x: x + PAD + c * b.pitch + b.pitch / 2,
            y: top + (col.stagger ? CELL_H / 2 : 0) + i * CELL_H + CELL_H / 2,
          });
        });
      });
    } else {
      b.g.app.forEach((n, i) => {
        positions.set(n.id, {
          x: x + PAD + (i % b.cols) * CELL_W + CELL_W / 2,
          y: y + PAD + Math.floor(i / b.cols) * CELL_H + CELL_H / 2,
        });
      });
    }
    const dbTop = b.layered ? y + PAD + (inner - b.g.db.length * CELL_H) / 2 : y + PAD;
    b.g.db.forEach((n, i) => {
      positions.set(n.id, { x: dbX! + CELL_W / 2, y: dbTop + i * CELL_H + CELL_H / 2 });
    });
    x += b.w + GAP;
    rowH = Math.max(rowH, b.h);
    width = Math.max(width, x);
  }
  return { positions, boxes, width, height: y + rowH };
}
