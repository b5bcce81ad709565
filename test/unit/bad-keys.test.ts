// Keys that cannot name a task (issue 19, case 11): lone surrogates, which
// UTF-8 encodes as U+FFFD so that distinct keys would share one UDID, are
// refused with LINEAGE_INVALID_KEY wherever a key enters a lineage; a long
// source key is supported in DAG mode and refused with a coded error naming
// the limit in source-counter mode, where it is an LMDB key.
import { describe, expect, it } from 'vitest';
import { ErrorCodes, LineageStore, Pipeline, childLineage, rootLineage } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

const LONE = ['p\uD800', 'p\uDBFF', 'p\uDC00', '\uDFFFp', 'a\uD800\uD800b'];

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

describe('lone surrogates in keys', () => {
  it('source keys, child keys and stage ids with a lone surrogate are refused with LINEAGE_INVALID_KEY', () => {
    const root = rootLineage('part-0');
    for (const bad of LONE) {
      expect(codeOf(() => rootLineage(bad)), JSON.stringify(bad)).toBe(ErrorCodes.INVALID_KEY);
      expect(codeOf(() => childLineage('split', [root.udid], { key: bad })), JSON.stringify(bad)).toBe(ErrorCodes.INVALID_KEY);
      expect(codeOf(() => childLineage(bad, [root.udid], 0)), JSON.stringify(bad)).toBe(ErrorCodes.INVALID_KEY);
    }
    try {
      rootLineage('p\uD800');
    } catch (err) {
      expect((err as Error).message).toContain('"p\\ud800"');
      expect((err as Error).message).toMatch(/position 1/);
    }
  });

  it('distinct well-formed keys never share a UDID: U+FFFD itself and surrogate pairs are fine', () => {
    const keys = ['p\uFFFD', 'p\uD83D\uDE00', 'p?', 'p'];
    const udids = keys.map((k) => rootLineage(k).udid);
    expect(new Set(udids).size).toBe(keys.length);
  });

  it('a Pipeline source with a lone surrogate in its key fails the run with LINEAGE_INVALID_KEY, recording nothing for it', async () => {
    const dir = tempDir();
    const p = new Pipeline([{ id: 'write', process: (x: unknown) => x }]);
    const err = await p.run([{ key: 'p\uDBFF', data: 1 }], { checkpoint: dir }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.INVALID_KEY });
    const store = await LineageStore.open(dir, { readOnly: true });
    expect([...store.sources()]).toEqual([]);
    await store.close();
  });
});

describe('long source keys', () => {
  it('a 100 KB source key works in DAG mode: recorded, complete, read back whole', async () => {
    const dir = tempDir();
    const key = 'ü'.repeat(51_200); // 100 KiB of UTF-8
    const p = new Pipeline([{ id: 'split', process: () => [1, 2] }, { id: 'write', process: (x: unknown) => x }]);
    const report = await p.run([{ key, data: 0 }], { checkpoint: dir });
    expect(report.sources).toEqual({ read: 1, skipped: 0 });
    const store = await LineageStore.open(dir, { readOnly: true });
    expect([...store.sources()].map((s) => s.sourceKey)).toEqual([key]);
    expect(store.isSourceCompleted(key)).toBe(true);
    await store.close();
    expect((await p.run([{ key, data: 0 }], { checkpoint: dir })).sources).toEqual({ read: 1, skipped: 1 });
  });

  it('in source-counter mode a source key over 1978 UTF-8 bytes is refused with LINEAGE_INVALID_KEY naming the limit; the checkpoint stays usable', async () => {
    const dir = tempDir();
    const p = new Pipeline([{ id: 'write', process: (x: unknown) => x }]);
    const long = 'k'.repeat(102_400);
    const err = await p.run([{ key: long, data: 0 }], { checkpoint: dir, mode: 'sources' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.INVALID_KEY });
    expect((err as Error).message).toMatch(/102400 bytes.*1978/);
    const edge = 'k'.repeat(1978);
    expect((await p.run([{ key: edge, data: 0 }, { key: 'short', data: 1 }], { checkpoint: dir, mode: 'sources' })).sources).toEqual({ read: 2, skipped: 0 });
    const store = await LineageStore.open(dir, { readOnly: true });
    expect(store.isSourceCompleted(edge)).toBe(true);
    expect(codeOf(() => store.isSourceCompleted(long))).toBe(ErrorCodes.INVALID_KEY);
    await store.close();
  });
});
