/**
 * `lineage stats` counts one shard from its rows (store/task-counts.ts),
 * without the task view: on random DAGs recorded in any order, with
 * failures, the counts by status, type and stage and the edges equal those
 * of the task view, through the page reader and lmdb-js cursors alike; and
 * a record whose type its edge rows contradict is refused by both.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, LineageStore, childLineage, rootLineage } from '../../src/index.js';
import { countShardTasks, countTasks, type TaskCounts } from '../../src/store/task-counts.js';
import { buildModel, shuffle } from '../helpers/dag-model.js';
import { tempDir } from '../helpers/temp-dir.js';

const plain = (c: TaskCounts) => ({ ...c, byStage: [...c.byStage].sort(([a], [b]) => String(a).localeCompare(String(b))) });
const none = () => undefined;

describe('task counts of one shard (property)', () => {
  it('equal the task view counts, for any recording order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(1000), { minLength: 8, maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.nat(1000), { minLength: 1, maxLength: 20 }),
        async (seed, stages, roots, order) => {
          const model = buildModel(seed, stages, roots);
          const store = await LineageStore.open(tempDir('lineage-counts-'));
          try {
            for (const e of shuffle(model.emissions, order)) store.recordEmission(e);
            for (const f of model.failures.filter((x) => x.before === -1)) store.recordFailure({ stage: f.stage, task: f.task, error: 'boom' });
            await store.flush();
            const viaTasks = plain(countTasks(store.tasks(), none));
            expect(plain(countShardTasks(store.shards[0]!, none))).toEqual(viaTasks);
            process.env.LINEAGE_PAGE_SCAN = '0';
            try {
              expect(plain(countShardTasks(store.shards[0]!, none))).toEqual(viaTasks);
            } finally {
              delete process.env.LINEAGE_PAGE_SCAN;
            }
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a record that says it has no children while children rows name it is refused, as the task view refuses it', async () => {
    const store = await LineageStore.open(tempDir('lineage-counts-'));
    const root = rootLineage('a');
    store.recordEmission({ stage: 'split', parents: [root], children: [0, 1].map((i) => childLineage('split', [root.udid], i)) });
    await store.flush();
    const shard = store.shards[0]!;
    const parent = shard.idOf(Buffer.from(root.udid, 'hex'))!;
    shard.env.transactionSync(() => shard.editMeta(parent, (row) => void (row[22] = row[22]! & ~4)));
    await shard.env.flushed;
    const refusal = (count: () => unknown) => {
      try {
        count();
        return null;
      } catch (err) {
        return (err as { code?: string }).code;
      }
    };
    expect(refusal(() => countShardTasks(shard, none))).toBe(ErrorCodes.CORRUPT);
    expect(refusal(() => countTasks(store.tasks(), none))).toBe(ErrorCodes.CORRUPT);
    await store.close();
  });
});
