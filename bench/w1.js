// Workload W1 (bench/WORKLOAD.md) through the public API.
// Stages run one after another, so a whole stage's UDIDs wait between them:
// the harness keeps them as 16 raw bytes each, so its own memory stays small
// next to the store's.
import * as built from '../dist/index.js';

class UdidList {
  constructor(capacity) {
    this.bytes = Buffer.allocUnsafe(capacity * 16);
    this.length = 0;
  }
  push(udid) {
    this.bytes.write(udid, this.length++ * 16, 16, 'hex');
  }
  at(i) {
    return this.bytes.toString('hex', i * 16, i * 16 + 16);
  }
}

/**
 * Records W1 with `sources` sources into an open store (or anything with
 * `recordEmission`), stage by stage. Returns the number of emissions.
 * `api`: where rootLineage/childLineage come from (the store's own build:
 * a lineage carries a note only its own build can read).
 */
export async function recordW1(store, sources, { yieldEvery = 2000, api = built } = {}) {
  const { childLineage, rootLineage } = api;
  let emissions = 0;
  const tick = async () => {
    if (++emissions % yieldEvery !== 0) return;
    if (store.needsDrain) await store.drain();
    else await new Promise((r) => setImmediate(r));
  };
  const A = new UdidList(sources * 4);
  for (let s = 0; s < sources; s++) {
    const root = rootLineage(`part-${String(s).padStart(6, '0')}`);
    const kids = [0, 1, 2, 3].map((j) => childLineage('split', [root.udid], j));
    store.recordEmission({ stage: 'split', parents: [root], children: kids });
    for (const k of kids) A.push(k.udid);
    await tick();
  }
  const B = new UdidList(A.length);
  for (let i = 0; i < A.length; i++) {
    const a = A.at(i);
    const b = childLineage('map', [a], 0);
    store.recordEmission({ stage: 'map', parents: [a], children: [b] });
    B.push(b.udid);
    await tick();
  }
  const C = new UdidList(B.length);
  for (let i = 0; i < B.length; i++) {
    const s = Math.floor(i / 4);
    const j = i % 4;
    const b = B.at(i);
    if ((s + j) % 5 === 0) {
      store.recordEmission({ stage: 'filter', parents: [b], children: [] });
    } else {
      const c = childLineage('filter', [b], 0);
      store.recordEmission({ stage: 'filter', parents: [b], children: [c] });
      C.push(c.udid);
    }
    await tick();
  }
  for (let g = 0; g < C.length; g += 4) {
    const group = [];
    for (let k = g; k < Math.min(g + 4, C.length); k++) group.push(C.at(k));
    const d = childLineage('merge', group, 0);
    store.recordEmission({ stage: 'merge', parents: group, children: [d] });
    await tick();
    const e = childLineage('write', [d.udid], 0);
    store.recordEmission({ stage: 'write', parents: [d], children: [e], terminal: true });
    await tick();
  }
  return emissions;
}
