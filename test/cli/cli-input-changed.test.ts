/**
 * Changed inputs on the example pipeline, through the real binary: its
 * sources carry file fingerprints, so an edited partition is `invalidated`
 * with code `input-changed` (the plan shows both fingerprints), reruns alone,
 * and leaves the outputs a fresh run on the new inputs writes. A touch
 * without an edit reruns the partition in stat mode and not in content mode.
 */
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeExampleData } from '../../fixtures/example/make-data.js';
import type { RunReport } from '../../src/index.js';
import { ROOT, lineage } from '../helpers/cli.js';
import { ensureBuilt, outputs, runExample, stageCalls } from '../helpers/example.js';
import { tempDir } from '../helpers/temp-dir.js';

beforeAll(ensureBuilt);

const EXAMPLE = join(ROOT, 'fixtures', 'example', 'pipeline.js');
const EDITED = 'part-0002.jsonl';

interface PlanSource {
  sourceKey: string;
  verdict: string;
  code: string;
  reason: string;
  input?: { recorded: string; current: string };
}

/** The plan of the next `lineage run` of the example in `home`: with the pipeline module, so it sees the inputs as they are now. */
function plan(home: string, mode = 'stat'): PlanSource[] {
  const r = lineage(['plan', join(home, 'ckpt'), '--pipeline', EXAMPLE, '--json'], { env: { LINEAGE_EXAMPLE_DIR: home, LINEAGE_EXAMPLE_FINGERPRINT: mode } });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { sources: PlanSource[] }).sources;
}
const codes = (p: PlanSource[]) => Object.fromEntries(p.map((s) => [s.sourceKey, `${s.verdict}/${s.code}`]));

/** The example's 6 partitions, run once to completion with `lineage run`. */
function completedHome(mode = 'stat'): string {
  const home = tempDir('lineage-cli-input-');
  makeExampleData(join(home, 'data'), 6, 120);
  const r = lineage(['run', EXAMPLE, '--checkpoint', join(home, 'ckpt'), '--json'], { env: { LINEAGE_EXAMPLE_DIR: home, LINEAGE_EXAMPLE_FINGERPRINT: mode } });
  expect(r.code).toBe(0);
  return home;
}

/** One record's amount changed: same records and chunks, other output. */
function editPartition(file: string): void {
  const lines = readFileSync(file, 'utf8').split('\n');
  const r = JSON.parse(lines[5]!) as { amount: string; deleted: boolean };
  lines[5] = JSON.stringify({ ...r, amount: '12345.67', deleted: false });
  writeFileSync(file, lines.join('\n'));
}

/** What a run with no checkpoint writes from the data of `home`. */
function freshOutputs(home: string): Record<string, string> {
  const fresh = tempDir('lineage-cli-input-fresh-');
  makeExampleData(join(fresh, 'data'), 6, 120);
  writeFileSync(join(fresh, 'data', EDITED), readFileSync(join(home, 'data', EDITED)));
  expect(runExample(fresh, '--no-checkpoint').status).toBe(0);
  return outputs(fresh);
}

describe('a changed input (source fingerprints)', () => {
  it('an edited partition: invalidated/input-changed with both fingerprints, reruns alone, outputs equal a fresh run on the new inputs', () => {
    const home = completedHome();
    const before = outputs(home);
    editPartition(join(home, 'data', EDITED));
    const p = plan(home);
    const byKey = codes(p);
    expect(byKey[EDITED]).toBe('invalidated/input-changed');
    expect(Object.entries(byKey).filter(([k]) => k !== EDITED).every(([, v]) => v === 'skip/complete')).toBe(true);
    const edited = p.find((s) => s.sourceKey === EDITED)!;
    expect(edited.input!.recorded).toMatch(/^stat:\d+:\d+$/);
    expect(edited.input!.current).toMatch(/^stat:\d+:\d+$/);
    expect(edited.input!.current).not.toBe(edited.input!.recorded);
    expect(edited.reason).toContain(`${edited.input!.recorded} → ${edited.input!.current}`);

    const text = lineage(['plan', join(home, 'ckpt'), '--pipeline', EXAMPLE], { env: { LINEAGE_EXAMPLE_DIR: home } });
    expect(text.stdout).toMatch(/input-changed/);
    const explain = lineage(['plan', join(home, 'ckpt'), '--pipeline', EXAMPLE, '--explain', EDITED], { env: { LINEAGE_EXAMPLE_DIR: home } });
    expect(explain.code).toBe(0);
    expect(explain.stdout).toContain('verdict     invalidated (input-changed)');
    expect(explain.stdout).toContain(`recorded    ${edited.input!.recorded}`);
    expect(explain.stdout).toContain(`now         ${edited.input!.current}`);

    const rerun = lineage(['run', EXAMPLE, '--checkpoint', join(home, 'ckpt'), '--json'], { env: { LINEAGE_EXAMPLE_DIR: home } });
    expect(rerun.code).toBe(0);
    const report = JSON.parse(rerun.stdout) as RunReport;
    expect(report).toMatchObject({ inputsChanged: 1, sources: { read: 6, skipped: 5 } });
    expect(report.stages.find((s) => s.stage === 'read')!.calls).toBe(1);
    expect(report.stages.find((s) => s.stage === 'write')!.calls).toBe(1);
    const after = outputs(home);
    expect(after).toEqual(freshOutputs(home));
    expect(Object.keys(after).filter((f) => after[f] !== before[f])).toHaveLength(1);
    expect(Object.values(codes(plan(home))).every((v) => v === 'skip/complete')).toBe(true);
  });

  it('lineage run says how many inputs changed', () => {
    const home = completedHome();
    editPartition(join(home, 'data', EDITED));
    const rerun = lineage(['run', EXAMPLE, '--checkpoint', join(home, 'ckpt')], { env: { LINEAGE_EXAMPLE_DIR: home } });
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain('sources     6 read, 5 skipped (already complete), 1 with a changed input (voided and run again)');
  });

  it('a touch without an edit: stat mode reruns the partition, content mode does not', () => {
    for (const mode of ['stat', 'content']) {
      const home = completedHome(mode);
      const before = outputs(home);
      const file = join(home, 'data', EDITED);
      utimesSync(file, new Date(), new Date(Date.now() + 60_000));
      const p = plan(home, mode);
      expect(codes(p)[EDITED], mode).toBe(mode === 'stat' ? 'invalidated/input-changed' : 'skip/complete');
      if (mode === 'content') expect(p.every((s) => s.code === 'complete')).toBe(true);
      const rerun = runExample(home, '--fingerprint', mode);
      expect(rerun.status).toBe(0);
      const report = rerun.report!;
      expect(report.inputsChanged, mode).toBe(mode === 'stat' ? 1 : 0);
      if (mode === 'stat') expect(report.stages.find((s) => s.stage === 'read')!.calls).toBe(1);
      else expect(stageCalls(report)).toBe(0);
      expect(outputs(home)).toEqual(before);
    }
  });

  it('a checkpoint written before its sources had fingerprints: no change, until an edit', () => {
    const home = tempDir('lineage-cli-input-');
    makeExampleData(join(home, 'data'), 6, 120);
    expect(runExample(home, '--fingerprint', 'none').status).toBe(0);
    expect(readFileSync(join(home, 'ckpt', 'lineage.json'), 'utf8')).not.toContain('stat:');
    expect(Object.values(codes(plan(home))).every((v) => v === 'skip/complete')).toBe(true);
    const again = lineage(['run', EXAMPLE, '--checkpoint', join(home, 'ckpt'), '--json'], { env: { LINEAGE_EXAMPLE_DIR: home } });
    expect(JSON.parse(again.stdout)).toMatchObject({ inputsChanged: 0, sources: { read: 6, skipped: 6 } });
    editPartition(join(home, 'data', EDITED));
    expect(codes(plan(home))[EDITED]).toBe('invalidated/input-changed');
  });
});
