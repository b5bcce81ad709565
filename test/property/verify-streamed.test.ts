/**
 * verify with its bounded-memory path for one shard (completion/verify-streamed.ts)
 * gives exactly what the full verify, which reads the whole checkpoint into
 * memory, gives (the same report, or the same refusal); and on a healthy
 * checkpoint recorded in order the bounded path is the one taken.
 * Random DAGs, recorded in order or shuffled, then damaged row by row as a
 * bug or a bad disk would: an edge lost from one side, a record's flags,
 * outcome, stages or completion changed, a UDID index entry lost.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineageStore } from '../../src/index.js';
import { verifyCheckpoint, verifyInFull, type VerifyReport } from '../../src/completion/verify.js';
import { verifyStreamed } from '../../src/completion/verify-streamed.js';
import { removeEdgeId } from '../../src/store/edge-values.js';
import type { Shard } from '../../src/store/shard.js';
import { removeEntry } from '../../src/store/udid-chunks.js';
import { buildModel, shuffle } from '../helpers/dag-model.js';
import { tempDir } from '../helpers/temp-dir.js';

/** One change to a shard's rows; `pick` chooses the task or edge. */
const DAMAGE = ['edge-children', 'edge-parents', 'flags', 'outcome', 'outcome-stage', 'stage', 'completed', 'index'] as const;
type Damage = (typeof DAMAGE)[number];

function damage(shard: Shard, kind: Damage, pick: number, value: number): void {
  const ids = [...shard.metaRows()].map((r) => r.key);
  if (ids.length === 0) return;
  const id = ids[pick % ids.length]!;
  const edit = (at: number, size: 1 | 2 | 4) =>
    shard.editMeta(id, (row) => {
      if (size === 1) row[at] = value & 0xff;
      else if (size === 2) row.writeUInt16LE(value & 0xffff, at);
      else row.writeUInt32LE(value, at);
    });
  switch (kind) {
    case 'edge-children': {
      const kids = shard.childIds(id);
      if (kids.length > 0) removeEdgeId(shard.children as never, id, kids[value % kids.length]!);
      return;
    }
    case 'edge-parents': {
      const ps = shard.parentIds(id);
      if (ps.length > 0) removeEdgeId(shard.parents as never, id, ps[value % ps.length]!);
      return;
    }
    case 'flags':
      return void edit(22, 1);
    case 'outcome':
      return void edit(23, 1);
    case 'outcome-stage':
      return void edit(24, 2);
    case 'stage':
      return void edit(16, 2);
    case 'completed':
      return void edit(26, 4);
    case 'index':
      return void removeEntry(shard.udid as never, Buffer.from(shard.metaOf(id)!.udid));
  }
}

describe('streamed verify (property)', () => {
  it('says ok only when the full verify does, and always on a healthy in-order checkpoint', async () => {
    let caught = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(1000), { minLength: 8, maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.option(fc.array(fc.nat(1000), { minLength: 1, maxLength: 20 })),
        fc.array(fc.tuple(fc.constantFrom(...DAMAGE), fc.nat(500), fc.nat(8)), { maxLength: 2 }),
        async (seed, stages, roots, order, damages) => {
          const model = buildModel(seed, stages, roots);
          const dir = tempDir('lineage-verify-streamed-');
          const writer = await LineageStore.open(dir);
          for (const e of order === null ? model.emissions : shuffle(model.emissions, order)) writer.recordEmission(e);
          for (const f of model.failures.filter((x) => x.before === -1)) writer.recordFailure({ stage: f.stage, task: f.task, error: 'boom' });
          await writer.flush();
          const shard = writer.shards[0]!;
          shard.env.transactionSync(() => {
            for (const [kind, pick, value] of damages) damage(shard, kind, pick, value);
          });
          await shard.env.flushed;
          await writer.close();

          const store = await LineageStore.open(dir, { readOnly: true });
          try {
            // The same answer as the full verify, whether that is a report or a refusal.
            const outcome = (verify: () => VerifyReport) => {
              try {
                return verify();
              } catch (err) {
                return { refused: (err as { code?: string }).code ?? String(err) };
              }
            };
            const full = outcome(() => verifyInFull(store));
            expect(outcome(() => verifyCheckpoint(store))).toEqual(full);
            if (order === null && damages.length === 0) expect(verifyStreamed(store.shards[0]!, () => undefined), 'a healthy in-order checkpoint is verified streamed').not.toBeNull();
            if (!('ok' in full) || !full.ok) caught++;
          } finally {
            await store.close();
          }
        },
      ),
      { numRuns: 250 },
    );
    expect(caught, 'some damage is found').toBeGreaterThan(20);
  });
});
