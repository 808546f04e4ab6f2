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
/** Where along its curve an edge label may sit (tried in this order). */
const LABEL_AT = [0.5, 0.6, 0.4, 0.7, 0.3, 0.78, 0.22];
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
  /** The person panned or zoomed: a new layout no longer refits the view. */
  private moved = false;
  private readonly resize: ResizeObserver;
  readonly stats: MapStats = { frames: 0, lastDrawMs: 0, maxDrawMs: 0, firstDataFrameAt: undefined };

  constructor(
    canvas: HTMLCanvasElement,
    private readonly onSelect: (s: Selection) => void,
  ) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false })!;
    this.palette = readPalette(canvas);
    // A resized stage (the window, the edge table opening) refits until the person panned or zoomed.
    this.resize = new ResizeObserver(() => (this.moved ? this.invalidate() : this.fit()));
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
    if (relayout && !this.moved && graph.nodes.length > 0) this.fit();
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

  /** Fits the whole map; later layouts refit until the person pans or zooms again. */
  fit(): void {
    const l = this.layout;
    if (!l) return;
    this.moved = false;
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
    this.moved = true;
    this.scale = Math.max(this.scale, 0.8);
    this.tx = this.canvas.clientWidth / 2 - p.x * this.scale;
    this.ty = this.canvas.clientHeight / 2 - p.y * this.scale;
    this.invalidate();
  }

  zoomBy(factor: number, cx = this.canvas.clientWidth / 2, cy = this.canvas.clientHeight / 2): void {
    this.moved = true;
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
      this.moved = true;
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
      if (e.key.startsWith('Arrow')) this.moved = true;
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
    // Nodes.
    const showLabels = s > 0.4 || this.graph.nodes.length < 60;
    ctx.lineWidth = 1.5 / s;
    const drawn: { n: GraphNode; q: Point; dim: boolean }[] = [];
    for (const n of this.graph.nodes) {
      const q = l.positions.get(n.id);
      if (!q || !visible(q)) continue;
      const dim = hl !== undefined && !hl.has(n.id);
      drawn.push({ n, q, dim });
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
        ctx.textAlign = 'center';
        ctx.fillText(String(n.members), q.x, q.y + 4);
      }
    }
    ctx.globalAlpha = 1;

    // Labels, in screen pixels (readable at any zoom), placed so that none overlaps another, a
    // node or a node's name: node names first, then edge labels by importance, each at the first
    // free spot along its curve; one with no free spot is left out (the edge table has it).
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.textAlign = 'center';
    const placed = new Placer(w, hgt);
    const sx = (x: number) => x * s + this.tx;
    const sy = (y: number) => y * s + this.ty;
    const labelNodes = drawn.filter((d) => showLabels || (hl !== undefined && !d.dim));
    if (drawn.length <= 600) {
      for (const { n, q } of drawn) {
        const r = (n.kind === 'namespace' ? NODE_R * 1.5 : NODE_R) * s + 2;
        placed.add(sx(q.x) - r, sy(q.y) - r, 2 * r, 2 * r);
      }
    }
    ctx.font = `${12}px system-ui, sans-serif`;
    labelNodes.sort((a, b) => rankNode(b.n, selNode, hl) - rankNode(a.n, selNode, hl));
    for (const { n, q, dim } of labelNodes) {
      const tw = ctx.measureText(n.label).width;
      const r = (n.kind === 'namespace' ? NODE_R * 1.5 : NODE_R) * s;
      const x = sx(q.x);
      // Below the node, else above it; a name that fits neither is left out (the selected one is not).
      let y = sy(q.y) + r + 14;
      if (!placed.tryAdd(x - tw / 2 - 2, y - 10, tw + 4, 14)) {
        y = sy(q.y) - r - 6;
        if (!placed.tryAdd(x - tw / 2 - 2, y - 10, tw + 4, 14) && n.id !== selNode) continue;
      }
      ctx.globalAlpha = dim ? 0.72 : 1;
      ctx.fillStyle = p.fg;
      ctx.fillText(n.label, x, y);
    }
    ctx.globalAlpha = 1;
    const labelled =
      onScreen.length <= LABEL_EDGES && s > 0.3 ? onScreen.slice() : emph.slice(0, LABEL_EDGES);
    const focused = (e: GraphEdge) =>
      e.id === selected ||
      (selNode !== undefined && (e.from === selNode || e.to === selNode)) ||
      (hl !== undefined && (hl.has(e.from) || hl.has(e.to)));
    const anyFocus = selected !== undefined || selNode !== undefined || hl !== undefined;
    const rank = new Map(
      labelled.map((e) => [e, rankEdge(e) + (focused(e) ? 1e8 : 0) + (e.id === selected ? 1e9 : 0)]),
    );
    labelled.sort((a, b) => rank.get(b)! - rank.get(a)!);
    ctx.font = `${11}px system-ui, sans-serif`;
    for (const e of labelled) {
      const text = edgeLabel(e);
      if (!text) continue;
      const a = l.positions.get(e.from)!;
      const b = l.positions.get(e.to)!;
      const cp = control(a, b, e.from < e.to);
      const tw = ctx.measureText(text).width + 6;
      let spot: Point | undefined;
      for (const t of LABEL_AT) {
        const u = 1 - t;
        const mx = sx(u * u * a.x + 2 * u * t * cp.x + t * t * b.x);
        const my = sy(u * u * a.y + 2 * u * t * cp.y + t * t * b.y);
        if (placed.tryAdd(mx - tw / 2, my - 8, tw, 15)) {
          spot = { x: mx, y: my };
          break;
        }
      }
      if (!spot && e.id === selected) {
        const u = 0.5;
        spot = {
          x: sx(u * u * a.x + 2 * u * u * cp.x + u * u * b.x),
          y: sy(u * u * a.y + 2 * u * u * cp.y + u * u * b.y),
        };
      }
      if (!spot) continue;
      ctx.fillStyle = p.bg;
      ctx.globalAlpha = 0.9;
      ctx.fillRect(spot.x - tw / 2, spot.y - 8, tw, 15);
      ctx.globalAlpha = 1;
      ctx.fillStyle = e.id === selected ? p.select : p.fg;
      // With a selection or a search, the other labels step back.
      ctx.globalAlpha = anyFocus && !focused(e) ? 0.72 : 1;
      ctx.fillText(text, spot.x, spot.y + 4);
      ctx.globalAlpha = 1;
    }
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

const STATE_WEIGHT: Record<EdgeState, number> = { learned: 0, policy: 1, alerting: 2, blocked: 3 };

/** Which edge label wins a spot (after the selection's and the search's): worse state, traced, busier. */
function rankEdge(e: GraphEdge): number {
  return STATE_WEIGHT[e.state] * 1e6 + (e.requests > 0 ? 1e5 : 0) + Math.min(e.rate, 9e4);
}

function rankNode(n: GraphNode, selNode: string | undefined, hl: ReadonlySet<string> | undefined): number {
  if (n.id === selNode) return 3;
  if (hl?.has(n.id)) return 2;
  return n.kind === 'namespace' || n.replicas.length > 0 ? 1 : 0;
}

/** Rectangles already taken on screen, in a grid of buckets so each test looks at a few. */
class Placer {
  private static readonly CELL = 64;
  private readonly buckets = new Map<number, number[]>();
  private readonly rects: number[] = [];
  constructor(
    private readonly w: number,
    private readonly h: number,
  ) {}

  private keys(x: number, y: number, w: number, h: number): number[] {
    const c = Placer.CELL;
    const out: number[] = [];
    for (let i = Math.floor(x / c); i <= Math.floor((x + w) / c); i++)
      for (let j = Math.floor(y / c); j <= Math.floor((y + h) / c); j++) out.push(i * 100_003 + j);
    return out;
  }

  add(x: number, y: number, w: number, h: number): void {
    const id = this.rects.length;
    this.rects.push(x, y, w, h);
    for (const k of this.keys(x, y, w, h)) {
      const b = this.buckets.get(k);
      if (b) b.push(id);
      else this.buckets.set(k, [id]);
    }
  }

  /** Takes the rectangle when it is on screen and free. */
  tryAdd(x: number, y: number, w: number, h: number): boolean {
    if (x < 0 || y < 0 || x + w > this.w || y + h > this.h) return false;
    const r = this.rects;
    for (const k of this.keys(x, y, w, h)) {
      for (const id of this.buckets.get(k) ?? []) {
        if (x < r[id]! + r[id + 2]! && r[id]! < x + w && y < r[id + 1]! + r[id + 3]! && r[id + 1]! < y + h)
          return false;
      }
    }
    this.add(x, y, w, h);
    return true;
  }
}
