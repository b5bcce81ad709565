// Several writers (stable writer ids, one shard each) run slices of the
// example pipeline concurrently into one checkpoint, one is killed and rerun;
// the union must plan exactly like one writer that did the same work, and a
// later run by any writer skips what any shard completed.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { planResume, type ResumePlan } from '../../src/index.js';
import { makeExampleData } from '../../fixtures/example/make-data.js';
import { ensureBuilt, outputs, runExample, runExampleAsync } from '../helpers/example.js';
import { tempDir } from '../helpers/temp-dir.js';

const FAIL = ['--fail', 'part-0002.jsonl:1,part-0005.jsonl:0,part-0010.jsonl:3'];
const PARTS = Array.from({ length: 12 }, (_, i) => `part-${String(i).padStart(4, '0')}.jsonl`);
const SLICES = [0, 1, 2].map((w) => PARTS.filter((_, i) => i % 3 === w).join(','));

/** The plan without what legitimately differs between checkpoints (their paths). */
function comparable(plan: ResumePlan) {
  const { checkpoint: _ignored, ...rest } = plan;
  return { ...rest, sources: [...rest.sources].sort((a, b) => a.sourceKey.localeCompare(b.sourceKey)).map((s) => ({ ...s, open: [...s.open].sort((a, b) => a.udid.localeCompare(b.udid)) })) };
}

beforeAll(() => ensureBuilt());

describe('many writers through the Pipeline', () => {
  it('concurrent writers, one killed and rerun: the union plans like a single writer', async () => {
    const single = tempDir();
    makeExampleData(join(single, 'data'));
    expect(runExample(single, ...FAIL).status).toBe(0);
    const expected = await planResume(join(single, 'ckpt'), { openPerSource: 10 });
    expect(expected.totals.resume).toBe(3);

    const multi = tempDir();
    makeExampleData(join(multi, 'data'));
    const runs = await Promise.all([
      runExampleAsync(multi, '--writer-id', 'host-a', '--only', SLICES[0]!, ...FAIL),
      runExampleAsync(multi, '--writer-id', 'host-b', '--only', SLICES[1]!, ...FAIL, '--crash-at', 'write:2', '--slow-ms', '10'),
      runExampleAsync(multi, '--writer-id', 'host-c', '--only', SLICES[2]!, ...FAIL),
    ]);
    expect(runs.map((r) => r.status ?? r.signal)).toEqual([0, 'SIGKILL', 0]);
    // The retried job finds its own shard again by its stable id.
    const retried = runExample(multi, '--writer-id', 'host-b', '--only', SLICES[1]!, ...FAIL);
    expect(retried.status, retried.stderr).toBe(0);
    expect(readdirSync(join(multi, 'ckpt', 'writers')).sort()).toEqual(['host-a', 'host-b', 'host-c']);
    const union = await planResume(join(multi, 'ckpt'), { openPerSource: 10 });
    expect(comparable(union)).toEqual(comparable(expected));

    // A run by one writer over every source skips what any shard completed and redoes only the failures.
    const last = runExample(multi, '--writer-id', 'host-a');
    expect(last.status, last.stderr).toBe(0);
    expect(last.report!.sources).toEqual({ read: 12, skipped: 9 });
    expect(last.report!.stages.find((s) => s.stage === 'write')!.processed).toBe(3);
    expect(runExample(single).status).toBe(0);
    expect(outputs(multi)).toEqual(outputs(single));
    expect((await planResume(join(multi, 'ckpt'))).totals.skip).toBe(12);
  }, 180_000);
});
