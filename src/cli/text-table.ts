/**
 * @internal
 * Plain-text tables for the readable outputs: left-aligned first column,
 * right-aligned numbers, two spaces apart, indented by two.
 */
export function table(header: string[], rows: (string | number)[][]): string[] {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map(
    (r) =>
      '  ' +
      r
        .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
        .join('  ')
        .trimEnd(),
  );
}
