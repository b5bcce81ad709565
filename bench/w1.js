// Workload W1 (../shared/bench/README.md) through the public API.
import { childLineage, rootLineage } from '../dist/index.js';

/**
 * Records W1 with `sources` sources into an open store, stage by stage.
 * Returns the number of emissions.
 */
export async function recordW1(store, sources, { yieldEvery = 2000 } = {}) {
  let emissions = 0;
  const tick = async () => {
    if (++emissions % yieldEvery === 0) await new Promise((r) => setImmediate(r));
  };
  const A = [];
  for (let s = 0; s < sources; s++) {
    const root = rootLineage(`part-${String(s).padStart(6, '0')}`);
    const kids = [0, 1, 2, 3].map((j) => childLineage('split', [root.udid], j));
    store.recordEmission({ stage: 'split', parents: [root], children: kids });
    for (const k of kids) A.push(k.udid);
    await tick();
  }
  const B = [];
  for (const a of A) {
    const b = childLineage('map', [a], 0);
    store.recordEmission({ stage: 'map', parents: [a], children: [b] });
    B.push(b.udid);
    await tick();
  }
  A.length = 0;
  const C = [];
  for (let i = 0; i < B.length; i++) {
    const s = Math.floor(i / 4);
    const j = i % 4;
    if ((s + j) % 5 === 0) {
      store.recordEmission({ stage: 'filter', parents: [B[i]], children: [] });
    } else {
      const c = childLineage('filter', [B[i]], 0);
      store.recordEmission({ stage: 'filter', parents: [B[i]], children: [c] });
      C.push(c.udid);
    }
    await tick();
  }
  B.length = 0;
  for (let g = 0; g < C.length; g += 4) {
    const group = C.slice(g, g + 4);
    const d = childLineage('merge', group, 0);
    store.recordEmission({ stage: 'merge', parents: group, children: [d] });
    await tick();
    const e = childLineage('write', [d.udid], 0);
    store.recordEmission({ stage: 'write', parents: [d], children: [e], terminal: true });
    await tick();
  }
  return emissions;
}
