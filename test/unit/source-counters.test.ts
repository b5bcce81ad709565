import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, LineageStore, childLineage, rootLineage } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';
import { rawEntries } from '../helpers/raw-lmdb.js';

function lineageOf(source: string) {
  const root = rootLineage(source);
  const chunks = [0, 1].map((j) => childLineage('split', [root.udid], j, source));
  const out = chunks.map((c) => childLineage('write', [c.udid], 0, source));
  return { root, chunks, out };
}

describe('source-counter mode', () => {
  it('marks a source done when its last live task finishes, and keeps no per-task rows', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir, { mode: 'sources' });
    const a = lineageOf('a');
    const b = lineageOf('b');
    store.recordEmission({ stage: 'split', parents: [a.root], children: a.chunks });
    store.recordEmission({ stage: 'split', parents: [b.root], children: b.chunks });
    store.recordEmission({ stage: 'write', parents: [a.chunks[0]!], children: [a.out[0]!], terminal: true });
    store.recordEmission({ stage: 'write', parents: [a.chunks[1]!], children: [], terminal: true }); // filtered
    store.recordEmission({ stage: 'write', parents: [b.chunks[0]!], children: [b.out[0]!], terminal: true });
    store.recordFailure({ stage: 'write', task: b.chunks[1]!, error: new Error('disk quota') });
    await store.close();

    const reader = await LineageStore.open(dir, { readOnly: true });
    expect(reader.mode).toBe('sources');
    expect(reader.isSourceCompleted('a')).toBe(true);
    expect(reader.isSourceCompleted('b')).toBe(false);
    // Asked by the root's lineage (as the runner does), the same answers.
    expect(reader.isSourceCompleted(rootLineage('a'))).toBe(true);
    expect(reader.isSourceCompleted(rootLineage('b'))).toBe(false);
    expect([...reader.sourceStates()].sort((x, y) => x.sourceKey.localeCompare(y.sourceKey))).toEqual([
      { sourceKey: 'a', state: 'done', run: 1 },
      { sourceKey: 'b', state: 'failed', run: 1, stage: 'write', error: 'disk quota' },
    ]);
    expect(reader.isCompleted(a.root.udid)).toBe(false); // no task-level records in this mode
    expect([...reader.tasks()]).toEqual([]);
    await reader.close();
    expect(rawEntries(join(dir, 'writers', 'main'), 'parents', true)).toBe(0);
    expect(rawEntries(join(dir, 'writers', 'main'), 'source_state')).toBe(2);
  });

  it('refuses an output of several sources, and tasks without a source key', async () => {
    const store = await LineageStore.open(tempDir(), { mode: 'sources' });
    const a = lineageOf('a');
    const b = lineageOf('b');
    const merged = childLineage('merge', [a.root.udid, b.root.udid], 0);
    expect(() => store.recordEmission({ stage: 'merge', parents: [a.root, b.root], children: [merged] })).toThrow(
      expect.objectContaining({ code: ErrorCodes.NOT_ATTRIBUTABLE, message: expect.stringContaining('"merge"') }),
    );
    expect(() => store.recordEmission({ stage: 'split', parents: [a.root.udid], children: [] })).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }),
    );
    await store.close();
  });

  it('takes the union of shards, and refuses a mode other than the checkpoint has', async () => {
    const dir = tempDir();
    const a = lineageOf('a');
    for (const [writerId, chunk] of [['w1', 0], ['w2', 1]] as const) {
      const w = await LineageStore.open(dir, { mode: 'sources', writerId });
      w.recordEmission({ stage: 'split', parents: [a.root], children: a.chunks });
      w.recordEmission({ stage: 'write', parents: [a.chunks[chunk]!], children: [a.out[chunk]!], terminal: true });
      if (writerId === 'w2') w.recordEmission({ stage: 'write', parents: [a.chunks[0]!], children: [a.out[0]!], terminal: true });
      await w.close();
    }
    const reader = await LineageStore.open(dir, { readOnly: true });
    expect(reader.isSourceCompleted('a')).toBe(true);
    await reader.close();
    await expect(LineageStore.open(dir, { mode: 'dag' })).rejects.toMatchObject({ code: ErrorCodes.MODE_MISMATCH });
  });
});
