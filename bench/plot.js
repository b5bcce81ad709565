// A dependency-free SVG line chart: throughput against checkpoint size.
export function renderSweep(points) {
  const W = 640;
  const H = 400;
  const pad = { l: 70, r: 150, t: 30, b: 50 };
  const xs = points.map((p) => Math.log10(p.tasks));
  const ys = points.flatMap((p) => [p.recorder_emissions_per_s, p.limit_emissions_per_s]);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const y1 = Math.max(...ys) * 1.1;
  const X = (v) => pad.l + ((v - x0) / (x1 - x0 || 1)) * (W - pad.l - pad.r);
  const Y = (v) => H - pad.b - (v / y1) * (H - pad.t - pad.b);
  const line = (key, color, label, i) => {
    const d = points.map((p, k) => `${k ? 'L' : 'M'}${X(Math.log10(p.tasks)).toFixed(1)},${Y(p[key]).toFixed(1)}`).join(' ');
    const dots = points.map((p) => `<circle cx="${X(Math.log10(p.tasks)).toFixed(1)}" cy="${Y(p[key]).toFixed(1)}" r="3" fill="${color}"/>`).join('');
    return `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>${dots}<text x="${W - pad.r + 10}" y="${pad.t + 20 + i * 20}" fill="${color}" font-size="13">${label}</text>`;
  };
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = y1 * f;
    return `<line x1="${pad.l}" x2="${W - pad.r}" y1="${Y(v)}" y2="${Y(v)}" stroke="#ddd"/><text x="${pad.l - 8}" y="${Y(v) + 4}" text-anchor="end" font-size="11">${Math.round(v / 1000)}k</text>`;
  });
  const xTicks = points.map((p) => `<text x="${X(Math.log10(p.tasks))}" y="${H - pad.b + 18}" text-anchor="middle" font-size="11">${p.tasks >= 1e6 ? (p.tasks / 1e6).toFixed(2) + 'M' : Math.round(p.tasks / 1000) + 'k'}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${pad.l}" y="18" font-size="14">W1 recording throughput (durable) against checkpoint size</text>
${yTicks.join('\n')}
${xTicks.join('\n')}
<text x="${(W - pad.r + pad.l) / 2}" y="${H - 12}" text-anchor="middle" font-size="12">tasks in the checkpoint (log scale)</text>
<text x="16" y="${(H - pad.b + pad.t) / 2}" font-size="12" transform="rotate(-90 16 ${(H - pad.b + pad.t) / 2})" text-anchor="middle">emissions/s</text>
${line('recorder_emissions_per_s', '#1f77b4', 'lineage-dag', 0)}
${line('limit_emissions_per_s', '#d62728', 'liblmdb ceiling (C)', 1)}
</svg>
`;
}
