// Seeded byte flips in a writer shard's data.mdb (bench/fuzz-damage.js; run it there for thousands):
// every CLI command, and a resuming run, either gives the undamaged checkpoint's result or refuses
// with LINEAGE_CORRUPT naming the file. Never a signal, a hang, a stack trace, a wrong result
// with exit 0, or another error.
import { describe, expect, it } from 'vitest';
import { fuzz, tally } from '../../bench/fuzz-damage.js';
import { ensureBuilt } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

describe('a damaged data.mdb (seeded byte flips)', () => {
  it('50 trials of 1-4 flips: each command is the same as on the undamaged checkpoint, or LINEAGE_CORRUPT naming the file', async () => {
    ensureBuilt();
    const results = await fuzz({ trials: 50, seed: 19, parallel: 2, timeoutMs: 20_000, parent: tempDir('lineage-fuzz-') });
    expect(results.reduce((n, r) => n + r.flips.length, 0)).toBeGreaterThanOrEqual(50);
    const bad = results.filter((r) => Object.keys(r.bad).length > 0).map((r) => ({ trial: r.trial, flips: r.flips, bad: r.bad }));
    expect(bad).toEqual([]);
    const { total } = tally(results);
    expect(total.same! + total.corrupt!).toBe(50 * 6);
    // The flips reach data that matters: some trials are caught.
    expect(total.corrupt!).toBeGreaterThan(0);
  }, 240_000);
});
