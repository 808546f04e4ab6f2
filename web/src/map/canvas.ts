// The map on a canvas: one path per firewall state per frame (5,000 edges are a handful of stroke
// calls), drawing only when something changed, on requestAnimationFrame. Pan with drag or arrow
// keys, zoom with the wheel or +/-, 0 fits the map.
import type { Layout, Point } from './layout.ts';
import {
  EDGE_STATES,
  edgeLabel,
  type EdgeState,
  type Graph,
  type GraphEdge,
  type GraphNode,
} from './model.ts';

export type Selection = { type: 'node'; id: string } | { type: 'edge'; id: string } | undefined;

interface Palette {
  fg: string;
  muted: string;
  box: string;
  boxLine: string;
  node: string;
  nodeLine: string;
  unhealthy: string;
  select: string;
  bg: string;
  state: Record<EdgeState, string>;
}

const DASH: Record<EdgeState, number[]> = { policy: [], learned: [], alerting: [7, 4], blocked: [3, 4] };
const WIDTH: Record<EdgeState, number> = { policy: 1.6, learned: 1.2, alerting: 2, blocked: 2.4 };
const NODE_R = 15;
/** Above this many visible edges, per-edge labels and arrows are left out (they would be noise). */
const LABEL_EDGES = 150;
const ARROW_EDGES = 2500;

export interface MapStats {
  frames: number;
  lastDrawMs: number;
  maxDrawMs: number;
  firstDataFrameAt: number | undefined;
}

export class MapCanvas {
  readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private graph: Graph = { nodes: [], edges: [] };
  private layout: Layout | undefined;
  private nodeById = new Map<string, GraphNode>();
  private scale = 1;
  private tx = 0;
  private ty = 0;
  private dirty = true;
  private raf = 0;
  private palette: Palette;
  private selection: Selection;
  private highlight: ReadonlySet<string> | undefined;
  private fitted = false;
  private readonly resize: ResizeObserver;
  readonly stats: MapStats = { frames: 0, lastDrawMs: 0, maxDrawMs: 0, firstDataFrameAt: undefined };

  constructor(
    canvas: HTMLCanvasElement,
    private readonly onSelect: (s: Selection) => void,
  ) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false })!;
    this.palette = readPalette(canvas);
    this.resize = new ResizeObserver(() => this.invalidate());
    this.resize.observe(canvas);
    this.bindInput();
  }

  destroy(): void {
    cancelAnimationFrame(this.raf);
    this.resize.disconnect();
  }

  /** New data; the layout is kept when the same nodes are there (a poll rarely changes them). */
  setGraph(graph: Graph, layout: Layout): void {
    this.graph = graph;
    this.nodeById = new Map(graph.nodes.map((n) => [n.id, n]));
    const relayout = this.layout !== layout;
    this.layout = layout;
    if (relayout && !this.fitted && graph.nodes.length > 0) {
      this.fitted = true;
      this.fit();
    }
    this.invalidate();
  }

  setSelection(s: Selection): void {
    this.selection = s;
    this.invalidate();
  }

  /** Nodes matching a search; the rest is dimmed. `undefined` clears it. */
  setHighlight(ids: ReadonlySet<string> | undefined): void {
    this.highlight = ids;
    this.invalidate();
  }

  themeChanged(): void {
    this.palette = readPalette(this.canvas);
    this.invalidate();
  }

  fit(): void {
    const l = this.layout;
    if (!l) return;
    const w = this.canvas.clientWidth || 800;
    const hgt = this.canvas.clientHeight || 600;
    this.scale = Math.min(2, Math.max(0.05, Math.min(w / (l.width + 80), hgt / (l.height + 80))));
    this.tx = (w - l.width * this.scale) / 2;
    this.ty = (hgt - l.height * this.scale) / 2;
    this.invalidate();
  }

  /** Centers the view on a node (search, keyboard selection). */
  focus(id: string): void {
    const p = this.layout?.positions.get(id);
    if (!p) return;
    this.scale = Math.max(this.scale, 0.8);
    this.tx = this.canvas.clientWidth / 2 - p.x * this.scale;
    this.ty = this.canvas.clientHeight / 2 - p.y * this.scale;
    this.invalidate();
  }

  zoomBy(factor: number, cx = this.canvas.clientWidth / 2, cy = this.canvas.clientHeight / 2): void {
    const next = Math.min(4, Math.max(0.03, this.scale * factor));
    this.tx = cx - ((cx - this.tx) * next) / this.scale;
    this.ty = cy - ((cy - this.ty) * next) / this.scale;
    this.scale = next;
    this.invalidate();
  }

  invalidate(): void {
    if (this.dirty && this.raf) return;
    this.dirty = true;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      this.draw();
    });
  }

  private bindInput(): void {
    const c = this.canvas;
    let drag: { x: number; y: number; moved: boolean } | undefined;
    c.addEventListener('pointerdown', (e) => {
      drag = { x: e.clientX, y: e.clientY, moved: false };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (!drag.moved) return;
      this.tx += dx;
      this.ty += dy;
      drag.x = e.clientX;
      drag.y = e.clientY;
      this.invalidate();
    });
    c.addEventListener('pointerup', (e) => {
      const wasClick = drag && !drag.moved;
      drag = undefined;
      if (!wasClick) return;
      const r = c.getBoundingClientRect();
      this.onSelect(this.hit(e.clientX - r.left, e.clientY - r.top));
    });
    c.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        const r = c.getBoundingClientRect();
        this.zoomBy(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
      },
      { passive: false },
    );
    c.addEventListener('keydown', (e) => {
      const step = 60;
      const keys: Record<string, () => void> = {
        ArrowLeft: () => (this.tx += step),
        ArrowRight: () => (this.tx -= step),
        ArrowUp: () => (this.ty += step),
        ArrowDown: () => (this.ty -= step),
        '+': () => this.zoomBy(1.25),
        '=': () => this.zoomBy(1.25),
        '-': () => this.zoomBy(0.8),
        '0': () => this.fit(),
        Escape: () => this.onSelect(undefined),
      };
      const act = keys[e.key];
      if (!act) return;
      e.preventDefault();
      act();
      this.invalidate();
    });
  }

  /** What is under a point of the canvas (CSS pixels): a node first, else the nearest edge. */
  hit(px: number, py: number): Selection {
    const l = this.layout;
    if (!l) return undefined;
    const x = (px - this.tx) / this.scale;
    const y = (py - this.ty) / this.scale;
    const r = NODE_R + 4 / this.scale;
    for (const n of this.graph.nodes) {
      const p = l.positions.get(n.id);
      if (p && (p.x - x) ** 2 + (p.y - y) ** 2 <= r * r) return { type: 'node', id: n.id };
    }
    let best: GraphEdge | undefined;
    let bestD = 8 / this.scale;
    for (const e of this.graph.edges) {
      const a = l.positions.get(e.from);
      const b = l.positions.get(e.to);
      if (!a || !b) continue;
      const c = control(a, b, e.from < e.to);
      const d = Math.min(segDist(x, y, a, c), segDist(x, y, c, b));
      if (d < bestD) {
        bestD = d;
        best = e;
      }
    }
    return best ? { type: 'edge', id: best.id } : undefined;
  }

  private draw(): void {
    const t0 = performance.now();
    this.dirty = false;
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const hgt = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(hgt * dpr);
    }
    const ctx = this.ctx;
    const p = this.palette;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = p.bg;
    ctx.fillRect(0, 0, w, hgt);
    const l = this.layout;
    if (!l) return;
    ctx.setTransform(dpr * this.scale, 0, 0, dpr * this.scale, dpr * this.tx, dpr * this.ty);
    const s = this.scale;
    // What is on screen, in map coordinates (with a margin for labels).
    const vx0 = -this.tx / s - 100;
    const vy0 = -this.ty / s - 100;
    const vx1 = (w - this.tx) / s + 100;
    const vy1 = (hgt - this.ty) / s + 100;
    const visible = (q: Point) => q.x >= vx0 && q.x <= vx1 && q.y >= vy0 && q.y <= vy1;

    // Namespace boxes.
    ctx.lineWidth = 1 / s;
    ctx.font = `600 ${13}px system-ui, sans-serif`;
    for (const b of l.boxes) {
      ctx.fillStyle = p.box;
      ctx.strokeStyle = p.boxLine;
      ctx.beginPath();
      ctx.roundRect(b.x, b.y, b.w, b.h, 10);
      ctx.fill();
      ctx.stroke();
      if (s > 0.15) {
        ctx.fillStyle = p.muted;
        ctx.fillText(b.namespace, b.x + 12, b.y + 20);
        if (b.dbX !== undefined) ctx.fillText('db network', b.dbX + 8, b.y + 20);
      }
    }

    // Edges: one stroke per state.
    const hl = this.highlight;
    const selected = this.selection?.type === 'edge' ? this.selection.id : undefined;
    const selNode = this.selection?.type === 'node' ? this.selection.id : undefined;
    const onScreen: GraphEdge[] = [];
    for (const state of EDGE_STATES) {
      ctx.beginPath();
      let any = false;
      for (const e of this.graph.edges) {
        if (e.state !== state) continue;
        const a = l.positions.get(e.from);
        const b = l.positions.get(e.to);
        if (!a || !b || (!visible(a) && !visible(b))) continue;
        const cp = control(a, b, e.from < e.to);
        ctx.moveTo(a.x, a.y);
        ctx.quadraticCurveTo(cp.x, cp.y, b.x, b.y);
        any = true;
        onScreen.push(e);
      }
      if (!any) continue;
      ctx.strokeStyle = p.state[state];
      ctx.globalAlpha = hl ? 0.15 : state === 'learned' ? 0.75 : 0.95;
      ctx.lineWidth = WIDTH[state] / Math.sqrt(s);
      ctx.setLineDash(DASH[state].map((d) => d / Math.sqrt(s)));
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.setLineDash([]);
    // Emphasised edges: the selection, the search's and the selected node's.
    const emph = onScreen.filter(
      (e) =>
        e.id === selected ||
        (selNode !== undefined && (e.from === selNode || e.to === selNode)) ||
        (hl !== undefined && (hl.has(e.from) || hl.has(e.to))),
    );
    for (const e of emph) {
      const a = l.positions.get(e.from)!;
      const b = l.positions.get(e.to)!;
      const cp = control(a, b, e.from < e.to);
      ctx.beginPath();
      ctx.moveTo(a.x, a.y);
      ctx.quadraticCurveTo(cp.x, cp.y, b.x, b.y);
      ctx.strokeStyle = e.id === selected ? p.select : p.state[e.state];
      ctx.lineWidth = (WIDTH[e.state] + 1.5) / Math.sqrt(s);
      ctx.setLineDash(DASH[e.state].map((d) => d / Math.sqrt(s)));
      ctx.stroke();
    }
    ctx.setLineDash([]);
    if (onScreen.length <= ARROW_EDGES && s > 0.35) {
      for (const state of EDGE_STATES) {
        ctx.beginPath();
        for (const e of onScreen) {
          if (e.state !== state) continue;
          arrow(ctx, l.positions.get(e.from)!, l.positions.get(e.to)!, e.from < e.to);
        }
        ctx.fillStyle = p.state[state];
        ctx.fill();
      }
    }
    const labelled = onScreen.length <= LABEL_EDGES && s > 0.45 ? onScreen : emph.slice(0, LABEL_EDGES);
    ctx.font = `${11}px system-ui, sans-serif`;
    ctx.textAlign = 'center';
    for (const e of labelled) {
      const text = edgeLabel(e);
      if (!text) continue;
      const a = l.positions.get(e.from)!;
      const b = l.positions.get(e.to)!;
      const cp = control(a, b, e.from < e.to);
      const mx = 0.25 * a.x + 0.5 * cp.x + 0.25 * b.x;
      const my = 0.25 * a.y + 0.5 * cp.y + 0.25 * b.y;
      const tw = ctx.measureText(text).width;
      ctx.fillStyle = p.bg;
      ctx.globalAlpha = 0.85;
      ctx.fillRect(mx - tw / 2 - 3, my - 8, tw + 6, 14);
      ctx.globalAlpha = 1;
      ctx.fillStyle = p.fg;
      ctx.fillText(text, mx, my + 3);
    }

    // Nodes.
    const showLabels = s > 0.4 || this.graph.nodes.length < 60;
    ctx.lineWidth = 1.5 / s;
    for (const n of this.graph.nodes) {
      const q = l.positions.get(n.id);
      if (!q || !visible(q)) continue;
      const dim = hl !== undefined && !hl.has(n.id);
      ctx.globalAlpha = dim ? 0.25 : 1;
      ctx.fillStyle = p.node;
      ctx.strokeStyle = n.healthy ? p.nodeLine : p.unhealthy;
      if (n.id === selNode) ctx.strokeStyle = p.select;
      ctx.beginPath();
      shape(ctx, n, q);
      ctx.fill();
      ctx.stroke();
      if (n.kind === 'namespace') {
        ctx.fillStyle = p.fg;
        ctx.font = `600 ${11}px system-ui, sans-serif`;
        ctx.fillText(String(n.members), q.x, q.y + 4);
      }
      if (showLabels || (hl !== undefined && !dim)) {
        ctx.fillStyle = p.fg;
        ctx.font = `${12}px system-ui, sans-serif`;
        ctx.fillText(n.label, q.x, q.y + NODE_R + 15);
      }
    }
    ctx.globalAlpha = 1;
    ctx.textAlign = 'start';

    const ms = performance.now() - t0;
    this.stats.frames++;
    this.stats.lastDrawMs = ms;
    this.stats.maxDrawMs = Math.max(this.stats.maxDrawMs, ms);
    if (this.stats.firstDataFrameAt === undefined && this.graph.nodes.length > 0)
      this.stats.firstDataFrameAt = performance.now();
  }
}

function shape(ctx: CanvasRenderingContext2D, n: GraphNode, q: Point): void {
  const r = NODE_R;
  switch (n.kind) {
    case 'database':
      ctx.roundRect(q.x - r, q.y - r * 0.85, r * 2, r * 1.7, 5);
      return;
    case 'external':
    case 'host':
      ctx.moveTo(q.x, q.y - r);
      ctx.lineTo(q.x + r, q.y);
      ctx.lineTo(q.x, q.y + r);
      ctx.lineTo(q.x - r, q.y);
      ctx.closePath();
      return;
    case 'namespace':
      ctx.arc(q.x, q.y, r * 1.5, 0, Math.PI * 2);
      return;
    default:
      ctx.arc(q.x, q.y, r, 0, Math.PI * 2);
  }
}

/** The curve's control point: two directions between the same nodes bend apart. */
function control(a: Point, b: Point, up: boolean): Point {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len = Math.hypot(dx, dy) || 1;
  // Long edges bend more, so they pass beside the nodes lined up between their ends.
  const k = Math.min(110, 12 + len * 0.12) * (up ? 1 : -1);
  return { x: (a.x + b.x) / 2 - (dy / len) * k, y: (a.y + b.y) / 2 + (dx / len) * k };
}

function arrow(ctx: CanvasRenderingContext2D, a: Point, b: Point, up: boolean): void {
  const cp = control(a, b, up);
  // Tangent of the curve near its end, then back off by the node's radius.
  const tx = b.x - cp.x;
  const ty = b.y - cp.y;
  const len = Math.hypot(tx, ty) || 1;
  const ux = tx / len;
  const uy = ty / len;
  const px = b.x - ux * (NODE_R + 2);
  const py = b.y - uy * (NODE_R + 2);
  ctx.moveTo(px, py);
  ctx.lineTo(px - ux * 8 - uy * 4, py - uy * 8 + ux * 4);
  ctx.lineTo(px - ux * 8 + uy * 4, py - uy * 8 - ux * 4);
  ctx.closePath();
}

function segDist(x: number, y: number, a: Point, b: Point): number {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const len2 = dx * dx + dy * dy || 1;
  const t = Math.max(0, Math.min(1, ((x - a.x) * dx + (y - a.y) * dy) / len2));
  return Math.hypot(x - (a.x + t * dx), y - (a.y + t * dy));
}

function readPalette(el: Element): Palette {
  const cs = getComputedStyle(el);
  const v = (name: string) => cs.getPropertyValue(name).trim() || '#888';
  return {
    fg: v('--fg'),
    muted: v('--muted'),
    box: v('--surface'),
    boxLine: v('--border'),
    node: v('--node'),
    nodeLine: v('--node-line'),
    unhealthy: v('--edge-blocked'),
    select: v('--accent'),
    bg: v('--bg'),
    state: {
      policy: v('--edge-policy'),
      learned: v('--edge-learned'),
      alerting: v('--edge-alerting'),
      blocked: v('--edge-blocked'),
    },
  };
}
