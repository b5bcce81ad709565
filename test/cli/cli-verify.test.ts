// `lineage verify` on checkpoints damaged on purpose, row by row, through
// LMDB itself: every broken invariant is reported with the UDID it concerns,
// exit 1; `--repair` fixes what is derived from the edges and nothing else.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { childLineage, rootLineage } from '../../src/index.js';
import { Shard } from '../../src/store/shard.js';
import { buildSmall, ensureBuilt, lineage } from '../helpers/cli.js';
import { removeEdgeId } from '../../src/store/edge-values.js';
import { tempDir } from '../helpers/temp-dir.js';
import { removeEntry } from '../../src/store/udid-chunks.js';

beforeAll(() => ensureBuilt());

const s0 = rootLineage('part-0000.jsonl');
const s1 = rootLineage('part-0001.jsonl');
const chunk0 = childLineage('split', [s0.udid], 0);
const cleaned0 = childLineage('clean', [chunk0.udid], 0);
const pendingChunk = childLineage('split', [s1.udid], 0); // part-0001: cleaned, never merged

/** Changes rows of the small checkpoint's shard directly, as a bug or a bad disk would. */
async function damage(dir: string, change: (shard: Shard, id: (udid: string) => number) => void): Promise<void> {
  const shard = Shard.open(join(dir, 'writers', 'main'), 'main', false);
  const id = (udid: string) => {
    const n = shard.idOf(Buffer.from(udid, 'hex'));
    if (n === undefined) throw new Error(`no task ${udid}`);
    return n;
  };
  shard.env.transactionSync(() => change(shard, id));
  await shard.env.flushed;
  await shard.close();
}

describe('lineage verify on a damaged checkpoint', () => {
  it('names each bad UDID per check, exit 1; --repair restores the derived state, then verify passes', async () => {
    const ckpt = buildSmall(join(tempDir(), 'ckpt'));
    expect(lineage(['verify', ckpt]).code).toBe(0);
    await damage(ckpt, (shard, id) => {
      expect(removeEdgeId(shard.children as never, id(chunk0.udid), id(cleaned0.udid))).toBe(true); // one direction of an edge lost
      shard.editMeta(id(s1.udid), (row) => void (row[22] = 0)); // a source with children typed source_leaf
      shard.editMeta(id(pendingChunk.udid), (row) => void row.writeUInt32LE(1, 26)); // complete, but its subtree is not
    });
    const r = lineage(['verify', ckpt]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(chunk0.udid);
    expect(r.stdout).toContain(s1.udid);
    expect(r.stdout).toContain(pendingChunk.udid);
    const report = JSON.parse(lineage(['verify', ckpt, '--json']).stdout);
    expect(report.ok).toBe(false);
    // The lost children row also makes chunk 0 look childless to task_type: two task_type problems.
    expect(report.counts).toMatchObject({ symmetry: 1, task_type: 2 });
    expect(report.counts.completion).toBeGreaterThanOrEqual(1);
    expect(report.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ check: 'symmetry', udid: chunk0.udid }),
        expect.objectContaining({ check: 'task_type', udid: s1.udid }),
        expect.objectContaining({ check: 'completion', udid: pendingChunk.udid }),
      ]),
    );

    const repaired = lineage(['verify', ckpt, '--repair']);
    expect(repaired.code, repaired.stdout + repaired.stderr).toBe(0);
    const after = JSON.parse(lineage(['verify', ckpt, '--json']).stdout);
    expect(after.ok).toBe(true);
    // The plan is back to what the undamaged checkpoint says.
    const plan = JSON.parse(lineage(['plan', ckpt, '--json']).stdout);
    const fresh = JSON.parse(lineage(['plan', buildSmall(join(tempDir(), 'fresh')), '--json']).stdout);
    expect(plan.totals).toEqual(fresh.totals);
  });

  it('damage that is not derived state (a lost UDID index entry) is reported and survives --repair', async () => {
    const ckpt = buildSmall(join(tempDir(), 'ckpt'));
    await damage(ckpt, (shard) => {
      removeEntry(shard.udid as never, Buffer.from(cleaned0.udid, 'hex'));
    });
    const report = JSON.parse(lineage(['verify', ckpt, '--json']).stdout);
    expect(report.counts.index).toBe(1);
    expect(report.problems).toEqual([expect.objectContaining({ check: 'index', udid: cleaned0.udid })]);
    expect(lineage(['verify', ckpt, '--repair']).code).toBe(1);
    expect(JSON.parse(lineage(['verify', ckpt, '--json']).stdout).counts.index).toBe(1);
  });
});
