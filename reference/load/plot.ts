// Plain SVG charts of a load run, written by hand (no browser, no library): for each time bucket
// of the run, logins completed per second, sessions held, and login latency p50/p99. Latency and
// throughput are drawn against load (sessions held) over time, on two panels that share the x axis.

/** One bucket of the time series. */
export interface SeriesPoint {
  /** Seconds since the start of the run. */
  t: number;
  /** Logins completed per second in this bucket. */
  loginsPerSecond: number;
  /** Sessions held at the end of the bucket. */
  sessions: number;
  /** Login latency p50 / p99 of the logins completed in this bucket, ms (NaN when none). */
  p50: number;
  p99: number;
}

const esc = (s: string): string =>
  s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= v) return m * e;
  return 10 * e;
}

interface Line {
  label: string;
  color: string;
  values: Array<[number, number]>;
  axis: 'left' | 'right';
}

function panel(
  y0: number,
  h: number,
  w: number,
  xMax: number,
  title: string,
  leftLabel: string,
  rightLabel: string,
  lines: Line[],
): string {
  const x0 = 70;
  const pw = w - x0 - 80;
  const lmax = niceMax(
    Math.max(
      0,
      ...lines
        .filter((l) => l.axis === 'left')
        .flatMap((l) => l.values.map(([, v]) => v))
        .filter(Number.isFinite),
    ),
  );
  const rmax = niceMax(
    Math.max(
      0,
      ...lines
        .filter((l) => l.axis === 'right')
        .flatMap((l) => l.values.map(([, v]) => v))
        .filter(Number.isFinite),
    ),
  );
  const X = (t: number): number => x0 + (xMax > 0 ? (t / xMax) * pw : 0);
  const Y = (v: number, max: number): number => y0 + h - (v / max) * h;
  const out: string[] = [];
  out.push(`<text x="${x0}" y="${y0 - 8}" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${x0}" y="${y0}" width="${pw}" height="${h}" fill="none" stroke="#999"/>`);
  for (let i = 0; i <= 4; i++) {
    const y = y0 + h - (i / 4) * h;
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + pw}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${+((lmax * i) / 4).toPrecision(3)}</text>`);
    out.push(`<text x="${x0 + pw + 6}" y="${y + 4}">${+((rmax * i) / 4).toPrecision(3)}</text>`);
  }
  for (let i = 0; i <= 5; i++)
    out.push(
      `<text x="${X((xMax * i) / 5)}" y="${y0 + h + 16}" text-anchor="middle">${+((xMax * i) / 5).toPrecision(3)}</text>`,
    );
  out.push(
    `<text x="${14}" y="${y0 + h / 2}" transform="rotate(-90 14 ${y0 + h / 2})" text-anchor="middle">${esc(leftLabel)}</text>`,
  );
  out.push(
    `<text x="${w - 14}" y="${y0 + h / 2}" transform="rotate(90 ${w - 14} ${y0 + h / 2})" text-anchor="middle">${esc(rightLabel)}</text>`,
  );
  let lx = x0 + 200;
  for (const l of lines) {
    const pts = l.values
      .filter(([, v]) => Number.isFinite(v))
      .map(([t, v]) => `${X(t).toFixed(1)},${Y(v, l.axis === 'left' ? lmax : rmax).toFixed(1)}`);
    if (pts.length > 0)
      out.push(`<polyline fill="none" stroke="${l.color}" stroke-width="1.8" points="${pts.join(' ')}"/>`);
    out.push(
      `<rect x="${lx}" y="${y0 - 18}" width="12" height="4" fill="${l.color}"/><text x="${lx + 16}" y="${y0 - 13}">${esc(l.label)}</text>`,
    );
    lx += 30 + l.label.length * 7;
  }
  return out.join('\n');
}

/** The SVG document for a run's series. */
export function renderSvg(title: string, series: SeriesPoint[], notes: string[] = []): string {
  const w = 900;
  const xMax = Math.max(1, ...series.map((p) => p.t));
  const body = [
    panel(60, 200, w, xMax, 'Throughput and load', 'logins/s', 'sessions held', [
      { label: 'logins/s', color: '#1f77b4', axis: 'left', values: series.map((p) => [p.t, p.loginsPerSecond]) },
      { label: 'sessions held', color: '#2ca02c', axis: 'right', values: series.map((p) => [p.t, p.sessions]) },
    ]),
    panel(330, 200, w, xMax, 'Login latency (per 1 s bucket)', 'ms', 'sessions held', [
      { label: 'p50 ms', color: '#ff7f0e', axis: 'left', values: series.map((p) => [p.t, p.p50]) },
      { label: 'p99 ms', color: '#d62728', axis: 'left', values: series.map((p) => [p.t, p.p99]) },
      { label: 'sessions held', color: '#2ca02c', axis: 'right', values: series.map((p) => [p.t, p.sessions]) },
    ]),
    `<text x="${w / 2}" y="${555}" text-anchor="middle">seconds since start</text>`,
    ...notes.map((n, i) => `<text x="70" y="${585 + i * 16}">${esc(n)}</text>`),
  ];
  const h = 600 + notes.length * 16;
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${w / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>
${body.join('\n')}
</svg>
`;
}
