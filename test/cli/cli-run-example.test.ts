import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeExampleData } from '../../fixtures/example/make-data.js';
import { BIN, ROOT, ensureBuilt, lineage } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const EXAMPLE = join(ROOT, 'fixtures', 'example', 'pipeline.js');

beforeAll(ensureBuilt);

/** A directory for the example: 12 partitions in data/, outputs go to out/. */
function exampleHome(): string {
  const home = tempDir('lineage-cli-example-');
  makeExampleData(join(home, 'data'));
  return home;
}

function outputs(home: string): Record<string, string> {
  const out = join(home, 'out');
  return Object.fromEntries(readdirSync(out).filter((f) => f.endsWith('.jsonl')).sort().map((f) => [f, readFileSync(join(out, f), 'utf8')]));
}

interface Report {
  sources: { read: number; skipped: number };
  stages: { stage: string; processed: number; pruned: number }[];
  failed: number;
  failures: { stage: string; sourceKey: string; error: string }[];
}

describe('lineage run with the example pipeline (fixtures/example/pipeline.js)', () => {
  it('crashes part-way (SIGKILL), then a rerun skips what reached the sink and ends with the outputs of a clean run', () => {
    const clean = exampleHome();
    const first = lineage(['run', EXAMPLE, '--checkpoint', join(clean, 'ckpt'), '--json'], { env: { LINEAGE_EXAMPLE_DIR: clean } });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect((JSON.parse(first.stdout) as Report).sources).toEqual({ read: 12, skipped: 0 });

    const home = exampleHome();
    const ckpt = join(home, 'ckpt');
    const crashed = spawnSync(process.execPath, [BIN, 'run', EXAMPLE, '--checkpoint', ckpt], {
      cwd: ROOT,
      encoding: 'utf8',
      // Paced (10 ms per normalise call) so the run spans many event-loop turns and its commits land as it goes;
      // the 8th write comes after every chunk of the all-deleted part-0007 was filtered and committed.
      env: { ...process.env, LINEAGE_EXAMPLE_DIR: home, LINEAGE_EXAMPLE_CRASH_AT: 'write:8', LINEAGE_EXAMPLE_SLOW_MS: '10' },
    });
    expect(crashed.signal).toBe('SIGKILL');

    const resumed = lineage(['run', EXAMPLE, '--checkpoint', ckpt, '--json'], { env: { LINEAGE_EXAMPLE_DIR: home } });
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const report = JSON.parse(resumed.stdout) as Report;
    expect(report.sources.read).toBe(12);
    expect(report.sources.skipped).toBeGreaterThanOrEqual(2); // the empty and the all-deleted partitions at least
    expect(report.stages.find((s) => s.stage === 'write')!.processed).toBeLessThan(10);
    expect(outputs(home)).toEqual(outputs(clean));
    expect(lineage(['verify', ckpt]).code).toBe(0);
  });

  it('a failing chunk: exit 1, the summary names it; --sources from stdin uses the module\'s sourceFromKey', () => {
    const home = exampleHome();
    const ckpt = join(home, 'ckpt');
    const env = { LINEAGE_EXAMPLE_DIR: home, LINEAGE_EXAMPLE_FAIL: 'part-0005.jsonl:2' };
    const keys = readdirSync(join(home, 'data')).sort().join('\n') + '\n';
    const r = lineage(['run', EXAMPLE, '--checkpoint', ckpt, '--sources', '-'], { env, input: keys });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('sources     12 read, 0 skipped (already complete)');
    expect(r.stdout).toMatch(/^failed {6}1 task:\n {2}normalise {2}[0-9a-f]{8} {2}\[part-0005\.jsonl\] {2}part-0005\.jsonl chunk 2: injected failure$/m);
    expect(r.stdout).toContain(`See them with \`lineage inspect ${ckpt} --status failed\`.`);
    const failed = lineage(['inspect', ckpt, '--status', 'failed']);
    expect(failed.stdout).toMatch(/✗ read {2}[0-9a-f]{8} {2}failed in normalise: part-0005\.jsonl chunk 2: injected failure {2}\[part-0005\.jsonl\]/);

    const fixed = lineage(['run', EXAMPLE, '--checkpoint', ckpt, '--json'], { env: { LINEAGE_EXAMPLE_DIR: home } });
    expect(fixed.code).toBe(0);
    const report = JSON.parse(fixed.stdout) as Report;
    expect(report.sources).toEqual({ read: 12, skipped: 11 });
    // Only part-0005 again. Its other chunks were normalised, but merge never consumed them (it waits for every
    // chunk of the partition), so none is complete and all six are normalised again: nothing pruned.
    expect(report.stages.map((s) => [s.stage, s.processed, s.pruned])).toEqual([
      ['read', 1, 0],
      ['normalise', 6, 0],
      ['merge', 6, 0],
      ['write', 1, 0],
    ]);
  });
});
