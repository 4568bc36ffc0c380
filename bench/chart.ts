/**
 * A tiny SVG chart generator: grouped bar charts and line charts, no dependencies.
 */

export interface Series {
  name: string;
  values: (number | null)[];
}

export interface ChartOptions {
  title: string;
  categories: string[];
  series: Series[];
  yLabel?: string;
  xLabel?: string;
  /** Logarithmic y axis (values must be > 0). */
  logY?: boolean;
  width?: number;
  height?: number;
  /** Draw a dashed horizontal reference line. */
  reference?: { value: number; label: string };
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2'];
const FONT = 'font-family="sans-serif"';

const esc = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a >= 100) return String(Math.round(v));
  return String(+v.toPrecision(3));
}

/** "Nice" ticks from 0 (linear) or decades (log). */
function ticks(max: number, min: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) out.push(10 ** e);
    return out;
  }
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 0.001; v += step) out.push(v);
  if ((out.at(-1) ?? 0) < max) out.push((out.at(-1) ?? 0) + step);
  return out;
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  y(v: number): number;
  parts: string[];
}

function frame(o: ChartOptions): Frame {
  const width = o.width ?? 720;
  const height = o.height ?? 360;
  const left = 70;
  const right = width - 20;
  const top = 40;
  const bottom = height - 70;
  const values = o.series
    .flatMap((s) => s.values)
    .filter((v): v is number => v !== null && Number.isFinite(v));
  if (o.reference) values.push(o.reference.value);
  const positive = values.filter((v) => v > 0);
  const max = Math.max(...values, 1e-9);
  const min = Math.min(...positive, max);
  const t = ticks(max, min, o.logY === true);
  const lo = o.logY ? Math.log10(t[0] as number) : 0;
  const hi = o.logY ? Math.log10(t.at(-1) as number) : (t.at(-1) as number);
  const y = (v: number) => {
    const x = o.logY ? Math.log10(Math.max(v, 10 ** lo)) : v;
    return bottom - ((x - lo) / (hi - lo || 1)) * (bottom - top);
  };
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" ${FONT} font-size="15" font-weight="bold">${esc(o.title)}</text>`,
  ];
  for (const v of t) {
    const yy = y(v).toFixed(1);
    parts.push(
      `<line x1="${left}" x2="${right}" y1="${yy}" y2="${yy}" stroke="#e5e5e5"/>`,
      `<text x="${left - 6}" y="${yy}" dy="4" text-anchor="end" ${FONT} font-size="11">${fmt(v)}</text>`,
    );
  }
  parts.push(
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${bottom}" stroke="#333"/>`,
    `<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`,
  );
  if (o.yLabel) {
    parts.push(
      `<text transform="translate(16 ${(top + bottom) / 2}) rotate(-90)" text-anchor="middle" ${FONT} font-size="12">${esc(o.yLabel)}</text>`,
    );
  }
  if (o.xLabel) {
    parts.push(
      `<text x="${(left + right) / 2}" y="${bottom + 36}" text-anchor="middle" ${FONT} font-size="12">${esc(o.xLabel)}</text>`,
    );
  }
  return { width, height, left, right, top, bottom, y, parts };
}

function legend(f: Frame, series: Series[], extra: string[] = []) {
  let x = f.left;
  const yy = f.height - 14;
  series.forEach((s, i) => {
    f.parts.push(
      `<rect x="${x}" y="${yy - 10}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${x + 16}" y="${yy}" ${FONT} font-size="12">${esc(s.name)}</text>`,
    );
    x += 28 + s.name.length * 7;
  });
  for (const e of extra) {
    f.parts.push(`<text x="${x}" y="${yy}" ${FONT} font-size="12" fill="#555">${esc(e)}</text>`);
    x += 20 + e.length * 7;
  }
}

function reference(f: Frame, o: ChartOptions) {
  if (!o.reference) return [];
  const yy = f.y(o.reference.value).toFixed(1);
  f.parts.push(
    `<line x1="${f.left}" x2="${f.right}" y1="${yy}" y2="${yy}" stroke="#d62728" stroke-dasharray="6 4"/>`,
    `<text x="${f.right - 4}" y="${yy}" dy="-4" text-anchor="end" ${FONT} font-size="11" fill="#d62728">${esc(o.reference.label)}</text>`,
  );
  return [];
}

/** Grouped vertical bars: one group per category, one bar per series; null values are marked "n/a". */
export function barChart(o: ChartOptions): string {
  const f = frame(o);
  const n = o.categories.length;
  const groupWidth = (f.right - f.left) / Math.max(1, n);
  const barWidth = (groupWidth * 0.75) / Math.max(1, o.series.length);
  o.categories.forEach((c, ci) => {
    const gx = f.left + ci * groupWidth + groupWidth * 0.125;
    o.series.forEach((s, si) => {
      const v = s.values[ci];
      const x = gx + si * barWidth;
      if (v === null || v === undefined || !Number.isFinite(v)) {
        f.parts.push(
          `<text x="${x + barWidth / 2}" y="${f.bottom - 4}" text-anchor="middle" ${FONT} font-size="10" fill="#999">n/a</text>`,
        );
        return;
      }
      const yy = f.y(v);
      f.parts.push(
        `<rect x="${x.toFixed(1)}" y="${yy.toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(f.bottom - yy).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s.name} ${c}: ${v}`)}</title></rect>`,
        `<text x="${(x + barWidth / 2 - 1).toFixed(1)}" y="${(yy - 3).toFixed(1)}" text-anchor="middle" ${FONT} font-size="10">${fmt(v)}</text>`,
      );
    });
    f.parts.push(
      `<text x="${(f.left + ci * groupWidth + groupWidth / 2).toFixed(1)}" y="${f.bottom + 16}" text-anchor="middle" ${FONT} font-size="11">${esc(c)}</text>`,
    );
  });
  reference(f, o);
  legend(f, o.series);
  f.parts.push('</svg>');
  return f.parts.join('\n');
}

/** Lines over evenly spaced categories; a null value breaks the line (e.g. the design failed there). */
export function lineChart(o: ChartOptions): string {
  const f = frame(o);
  const n = o.categories.length;
  const x = (i: number) => f.left + ((i + 0.5) * (f.right - f.left)) / Math.max(1, n);
  o.categories.forEach((c, i) => {
    f.parts.push(
      `<text x="${x(i).toFixed(1)}" y="${f.bottom + 16}" text-anchor="middle" ${FONT} font-size="11">${esc(c)}</text>`,
    );
  });
  o.series.forEach((s, si) => {
    const color = COLORS[si % COLORS.length];
    let path = '';
    s.values.forEach((v, i) => {
      if (v === null || v === undefined || !Number.isFinite(v)) {
        path += ' ';
        return;
      }
      const cmd = path === '' || path.endsWith(' ') ? 'M' : 'L';
      path += `${cmd}${x(i).toFixed(1)},${f.y(v).toFixed(1)}`;
      f.parts.push(
        `<circle cx="${x(i).toFixed(1)}" cy="${f.y(v).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(`${s.name} ${o.categories[i]}: ${v}`)}</title></circle>`,
      );
    });
    f.parts.push(`<path d="${path.trim()}" fill="none" stroke="${color}" stroke-width="2"/>`);
  });
  reference(f, o);
  legend(f, o.series);
  f.parts.push('</svg>');
  return f.parts.join('\n');
}
