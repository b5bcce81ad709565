/**
 * `list.map(f)`, always as a packed array. TurboFan's inlined `Array#map`
 * makes holey arrays and the builtin packed ones, so the lists one call site
 * made alternated between the two kinds as its caller was optimised and
 * deoptimised. Every optimised consumer of those lists (the recorder, the
 * runner, `childPath`) then deoptimised on the kind it had not seen yet and
 * was compiled again: in a W1 run, ~0.6 s of compiler threads on a 2-core
 * machine.
 */
export function mapPacked<T, U>(list: readonly T[], f: (item: T, index: number) => U): U[] {
  // Most lists have one item: a literal is packed and exactly that long (a pushed-to `[]` reserves 17 slots).
  if (list.length === 1) return [f(list[0]!, 0)];
  const out: U[] = [];
  for (let i = 0; i < list.length; i++) out.push(f(list[i]!, i));
  return out;
}
