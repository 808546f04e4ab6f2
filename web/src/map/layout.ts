// Pure: where each node sits. Namespaces are boxes laid out in rows; inside a box the app network
// is a grid on the left and the database network a column on the right, so the two networks read
// apart at a glance. Linear in the number of nodes (500 services lay out in well under a frame).
import type { GraphNode } from './model.ts';

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
const PAD = 34;
const GAP = 40;

export function layoutGraph(nodes: readonly GraphNode[], namespaces: readonly string[]): Layout {
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
    const cols = Math.max(1, Math.ceil(Math.sqrt(g.app.length * 1.5)));
    const rows = Math.max(1, Math.ceil(g.app.length / cols), g.db.length);
    const dbCols = g.db.length ? 1 : 0;
    return {
      namespace,
      g,
      cols,
      w: (cols + dbCols) * CELL_W + PAD * 2 + (dbCols ? GAP / 2 : 0),
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
    const dbX = b.g.db.length ? x + PAD + b.cols * CELL_W + GAP / 2 : undefined;
    boxes.push({ namespace: b.namespace, x, y, w: b.w, h: b.h, dbX });
    b.g.app.forEach((n, i) => {
      positions.set(n.id, {
        x: x + PAD + (i % b.cols) * CELL_W + CELL_W / 2,
        y: y + PAD + Math.floor(i / b.cols) * CELL_H + CELL_H / 2,
      });
    });
    b.g.db.forEach((n, i) => {
      positions.set(n.id, { x: dbX! + CELL_W / 2, y: y + PAD + i * CELL_H + CELL_H / 2 });
    });
    x += b.w + GAP;
    rowH = Math.max(rowH, b.h);
    width = Math.max(width, x);
  }
  return { positions, boxes, width, height: y + rowH };
}
