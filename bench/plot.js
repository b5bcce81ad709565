// A dependency-free SVG of the sweep: recording throughput (recorder and the
// liblmdb ceiling) and the recorder's peak RssAnon, each against the number of
// tasks in the checkpoint (log scale).
export function renderSweep(points) {
  const W = 640;
  const H = 340;
  const charts = [
    chart(points, 0, {
      title: 'W1 recording throughput (durable) against checkpoint size',
      unit: 'emissions/s',
      tick: (v) => `${Math.round(v / 1000)}k`,
      series: [
        ['recorder_emissions_per_s', '#1f77b4', 'lineage-dag'],
        ['limit_emissions_per_s', '#d62728', 'liblmdb ceiling (C)'],
      ],
    }),
    chart(points, H, {
      title: 'Recorder peak RssAnon against checkpoint size',
      unit: 'MB',
      tick: (v) => `${Math.round(v)}`,
      series: [['peak_rss_anon_mb', '#2ca02c', 'peak RssAnon']],
    }),
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${2 * H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${charts.join('\n')}
</svg>
`;

  function chart(pts, top, { title, unit, tick, series }) {
    const pad = { l: 70, r: 150, t: 30, b: 50 };
    const present = series.filter(([key]) => pts.some((p) => typeof p[key] === 'number'));
    const xs = pts.map((p) => Math.log10(p.tasks));
    const ys = pts.flatMap((p) => present.map(([key]) => p[key] ?? 0));
    const x0 = Math.min(...xs);
    const x1 = Math.max(...xs);
    const y1 = Math.max(...ys, 1) * 1.1;
    const X = (v) => pad.l + ((v - x0) / (x1 - x0 || 1)) * (W - pad.l - pad.r);
    const Y = (v) => top + H - pad.b - (v / y1) * (H - pad.t - pad.b);
    const line = ([key, color, label], i) => {
      const with_ = pts.filter((p) => typeof p[key] === 'number');
      const d = with_.map((p, k) => `${k ? 'L' : 'M'}${X(Math.log10(p.tasks)).toFixed(1)},${Y(p[key]).toFixed(1)}`).join(' ');
      const dots = with_.map((p) => `<circle cx="${X(Math.log10(p.tasks)).toFixed(1)}" cy="${Y(p[key]).toFixed(1)}" r="3" fill="${color}"/>`).join('');
      return `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>${dots}<text x="${W - pad.r + 10}" y="${top + pad.t + 20 + i * 20}" fill="${color}" font-size="13">${label}</text>`;
    };
    const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
      const v = y1 * f;
      return `<line x1="${pad.l}" x2="${W - pad.r}" y1="${Y(v)}" y2="${Y(v)}" stroke="#ddd"/><text x="${pad.l - 8}" y="${Y(v) + 4}" text-anchor="end" font-size="11">${tick(v)}</text>`;
    });
    const xTicks = pts.map((p) => `<text x="${X(Math.log10(p.tasks))}" y="${top + H - pad.b + 18}" text-anchor="middle" font-size="11">${p.tasks >= 1e6 ? (p.tasks / 1e6).toFixed(1) + 'M' : Math.round(p.tasks / 1000) + 'k'}</text>`);
    const mid = top + (H - pad.b + pad.t) / 2;
    return `<text x="${pad.l}" y="${top + 18}" font-size="14">${title}</text>
${yTicks.join('\n')}
${xTicks.join('\n')}
<text x="${(W - pad.r + pad.l) / 2}" y="${top + H - 12}" text-anchor="middle" font-size="12">tasks in the checkpoint (log scale)</text>
<text x="16" y="${mid}" font-size="12" transform="rotate(-90 16 ${mid})" text-anchor="middle">${unit}</text>
${present.map(line).join('\n')}`;
  }
}
