/**
 * Each edge is written twice, as a parents row and a children row. The
 * streamed completion pass reads children rows to decide completion and
 * parents rows to check them: a row lost from either (as a damaged page
 * loses entries, each value's own check byte intact) is LINEAGE_CORRUPT
 * naming the file, never a completion computed from half the edges.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, LineageStore, childLineage, computeCompletion, planResume, rootLineage } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Two sources, each split into three chunks that are written out: 2 + 6 + 6 tasks. */
async function recorded(): Promise<string> {
  const store = await LineageStore.open(tempDir('lineage-edge-rows-'));
  for (const key of ['a', 'b']) {
    const root = rootLineage(key);
    const chunks = [0, 1, 2].map((i) => childLineage('split', [root.udid], i));
    store.recordEmission({ stage: 'split', parents: [root], children: chunks });
    for (const c of chunks) store.recordEmission({ stage: 'write', parents: [c], children: [childLineage('write', [c.udid], 0)], terminal: true });
  }
  await store.close();
  return store.dir;
}

/** Removes the one `name` row (a duplicate of a dupSort DB) of task id `key` whose value holds `pick` of its values. */
async function dropRow(dir: string, name: 'parents' | 'children', key: number): Promise<void> {
  const store = await LineageStore.open(dir);
  const db = store.shards[0]![name];
  const values = [...db.getValues(key)].map((v) => Buffer.from(v as Buffer));
  expect(values.length, `${name} rows of task ${key}`).toBeGreaterThan(0);
  await db.remove(key, values[0]!);
  await store.close();
}

async function expectCorrupt(dir: string, words: RegExp): Promise<void> {
  const store = await LineageStore.open(dir, { readOnly: true });
  try {
    for (const read of [() => computeCompletion(store), () => planResume(store)]) {
      let caught: unknown = null;
      try {
        await read();
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ code: ErrorCodes.CORRUPT, message: expect.stringContaining(join(dir, 'writers', 'main', 'data.mdb')) });
      expect((caught as Error).message, (caught as Error).message).toMatch(words);
    }
  } finally {
    await store.close();
  }
}

describe('an edge row lost from one of the two edge sub-DBs', () => {
  it('is read in full when nothing is lost (the control)', async () => {
    const dir = await recorded();
    const store = await LineageStore.open(dir, { readOnly: true });
    const snapshot = computeCompletion(store);
    expect(snapshot.size).toBe(14);
    expect(snapshot.completed.every((c) => c === 1)).toBe(true);
    await store.close();
  });

  it('a children row gone: LINEAGE_CORRUPT, the two edge sub-DBs disagree', async () => {
    const dir = await recorded();
    // Task 1 is source a; its children rows name its three chunks.
    await dropRow(dir, 'children', 1);
    await expectCorrupt(dir, /parents rows .* and children rows .* do not hold the same edges/);
  });

  it('a parents row gone: LINEAGE_CORRUPT, a record says it has parents but the rows hold none', async () => {
    const dir = await recorded();
    const store = await LineageStore.open(dir, { readOnly: true });
    const chunk = store.shards[0]!.idOf(Buffer.from(childLineage('split', [rootLineage('b').udid], 1).udid, 'hex'))!;
    await store.close();
    await dropRow(dir, 'parents', chunk);
    await expectCorrupt(dir, new RegExp(`task ${chunk}'s record says it has parents, but the parents rows hold none`));
  });
});
