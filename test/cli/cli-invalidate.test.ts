/**
 * `lineage invalidate` on the example pipeline, through the real binary:
 * what it voids (a source, a stage, a task and everything downstream), what
 * the plan then says (verdict `invalidated`, code `invalidated-by-hand`), that
 * the rerun redoes exactly that, and that the outputs afterwards equal a
 * fresh run's. `--dry-run` changes nothing; bad targets change nothing.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeExampleData } from '../../fixtures/example/make-data.js';
import { LineageStore, type RunReport } from '../../src/index.js';
import { lineage } from '../helpers/cli.js';
import { ensureBuilt, outputs, runExample, stageCalls } from '../helpers/example.js';
import { tempDir } from '../helpers/temp-dir.js';

beforeAll(ensureBuilt);

let fresh: Record<string, string> = {};

/** A home with the example's 12 partitions, run once to completion. */
function completedHome(): string {
  const home = tempDir('lineage-cli-invalidate-');
  makeExampleData(join(home, 'data'), 6, 120);
  const first = runExample(home);
  expect(first.status).toBe(0);
  return home;
}

beforeAll(() => {
  const home = tempDir('lineage-cli-invalidate-fresh-');
  makeExampleData(join(home, 'data'), 6, 120);
  expect(runExample(home, '--no-checkpoint').status).toBe(0);
  fresh = outputs(home);
});

interface PlanJson {
  sources: { sourceKey: string; verdict: string; code: string; reason: string }[];
}
const plan = (home: string, ...args: string[]): PlanJson => JSON.parse(lineage(['plan', join(home, 'ckpt'), '--json', ...args]).stdout) as PlanJson;
const codes = (p: PlanJson) => Object.fromEntries(p.sources.map((s) => [s.sourceKey, `${s.verdict}/${s.code}`]));

/** Every file of the checkpoint with its size and modification time: what a read-only command must leave alone. */
function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name !== 'lock.mdb') out[p] = `${statSync(p).size}:${statSync(p).mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

describe('lineage invalidate', () => {
  it('--source: that source alone goes back to work, the rerun redoes only it, and the outputs equal a fresh run', () => {
    const home = completedHome();
    const ckpt = join(home, 'ckpt');
    const key = 'part-0002.jsonl';
    const before = files(ckpt);
    const dry = lineage(['invalidate', ckpt, '--source', key, '--dry-run']);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^would void \d+ task\(s\) in 1 source\(s\) of .*: \d+ removed \(downstream\), 1 to consume again\n {2}part-0002\.jsonl\n--dry-run: nothing was changed\n$/);
    expect(files(ckpt)).toEqual(before);

    const r = lineage(['invalidate', ckpt, '--source', key, '--json']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { dryRun: boolean; removed: number; reopened: number; sources: string[] };
    expect(summary).toMatchObject({ dryRun: false, reopened: 1, sources: [key] });
    expect(summary.removed).toBeGreaterThan(3);
    const p = plan(home);
    const byKey = codes(p);
    expect(byKey[key]).toBe('invalidated/invalidated-by-hand');
    expect(Object.entries(byKey).filter(([k]) => k !== key).every(([, v]) => v === 'skip/complete')).toBe(true);
    expect(p.sources.find((s) => s.sourceKey === key)!.reason).toMatch(/^voided by hand \(lineage invalidate, \d{4}-\d\d-\d\dT/);
    const manifest = JSON.parse(readFileSync(join(ckpt, 'lineage.json'), 'utf8')) as { invalidations: unknown[] };
    expect(manifest.invalidations).toEqual([expect.objectContaining({ sources: [key], stages: [], udids: [], removed: summary.removed, reopened: 1 })]);

    // Out of the way, so the files the rerun writes can be counted (the outputs check would redo the rest).
    rmSync(join(home, 'out'), { recursive: true });
    const rerun = runExample(home, '--no-check-outputs');
    expect(rerun.status).toBe(0);
    const report = rerun.report as RunReport;
    expect(report.sources.skipped).toBe(5);
    expect(report.stages.find((s) => s.stage === 'read')!.calls).toBe(1);
    expect(report.stages.find((s) => s.stage === 'write')!.calls).toBe(1);
    const out = outputs(home);
    expect(Object.keys(out)).toHaveLength(1);
    for (const [file, text] of Object.entries(out)) expect(text).toBe(fresh[file]);
    // (The other outputs were moved away above: with the check on, their sources would be output-missing.)
    expect(Object.values(codes(plan(home, '--no-check-outputs'))).every((v) => v === 'skip/complete')).toBe(true);
  });

  it('--stage: every source that stage consumed goes back to it; the rerun redoes it and the later stages, and the outputs equal a fresh run', async () => {
    const home = completedHome();
    const ckpt = join(home, 'ckpt');
    // The sources whose tasks merge consumed: those with at least one chunk left after normalise.
    const store = await LineageStore.open(ckpt, { readOnly: true });
    const merged = [...new Set([...store.tasks()].filter((t) => t.outcome?.stage === 'merge').map((t) => t.sourceKey!))].sort();
    await store.close();
    expect(merged.length).toBeGreaterThan(2);
    const r = lineage(['invalidate', ckpt, '--stage', 'merge', '--json']);
    expect(r.stderr).toBe('');
    expect((JSON.parse(r.stdout) as { sources: string[] }).sources).toEqual(merged);
    const byKey = codes(plan(home));
    for (const [key, v] of Object.entries(byKey)) expect(v, key).toBe(merged.includes(key) ? 'invalidated/invalidated-by-hand' : 'skip/complete');
    // Out of the way, so the files the rerun writes can be counted (the outputs check would redo the rest).
    rmSync(join(home, 'out'), { recursive: true });
    const rerun = runExample(home, '--no-check-outputs');
    expect(rerun.status).toBe(0);
    const report = rerun.report as RunReport;
    expect(report.stages.find((s) => s.stage === 'merge')!.calls).toBe(merged.length);
    expect(report.stages.find((s) => s.stage === 'write')!.calls).toBe(merged.length);
    expect(outputs(home)).toEqual(fresh);
  });

  it('--udid (a prefix): that task and what it led to; its source alone goes back to work', async () => {
    const home = completedHome();
    const ckpt = join(home, 'ckpt');
    const store = await LineageStore.open(ckpt, { readOnly: true });
    const target = [...store.tasks()].find((t) => t.stage === 'normalise' && t.sourceKey === 'part-0004.jsonl')!;
    await store.close();
    const r = lineage(['invalidate', ckpt, '--udid', target.udid.slice(0, 12)]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/in 1 source\(s\)[^\n]*\n {2}part-0004\.jsonl\n/);
    const byKey = codes(plan(home));
    expect(byKey['part-0004.jsonl']).toBe('invalidated/invalidated-by-hand');
    expect(Object.values(byKey).filter((v) => v === 'skip/complete')).toHaveLength(5);
    // Out of the way, so the files the rerun writes can be counted (the outputs check would redo the rest).
    rmSync(join(home, 'out'), { recursive: true });
    const rerun = runExample(home, '--no-check-outputs');
    expect(rerun.status).toBe(0);
    expect(stageCalls(rerun.report as RunReport)).toBeGreaterThan(0);
    expect((rerun.report as RunReport).stages.find((s) => s.stage === 'write')!.calls).toBe(1);
    const out = outputs(home);
    for (const [file, text] of Object.entries(out)) expect(text).toBe(fresh[file]);
  });

  it('bad targets: a coded one-line error naming it, exit 1 or 2, and nothing changed', () => {
    const home = completedHome();
    const ckpt = join(home, 'ckpt');
    const before = files(ckpt);
    const cases: [string[], number, RegExp][] = [
      [['--source', 'no-such.jsonl'], 1, /^lineage: LINEAGE_UNKNOWN_TASK: invalidate: the source "no-such\.jsonl" is not in the checkpoint .*; nothing was changed/],
      [['--stage', 'nope'], 2, /^lineage: LINEAGE_INVALID_ARGUMENT: invalidate: the checkpoint .* knows no stage "nope" \(its stages: "read", "normalise", "merge", "write"\)/],
      [['--udid', 'zz12'], 2, /^lineage: LINEAGE_INVALID_UDID: /],
      [['--udid', 'ab'.repeat(16)], 1, /^lineage: LINEAGE_UNKNOWN_TASK: /],
      [[], 2, /^lineage: LINEAGE_INVALID_ARGUMENT: invalidate: name what to void/],
      [['--source', 'part-0001.jsonl', '--stage', 'nope'], 2, /knows no stage "nope"/],
    ];
    for (const [args, code, message] of cases) {
      const r = lineage(['invalidate', ckpt, ...args]);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.code, args.join(' ')).toBe(code);
    }
    expect(lineage(['invalidate', join(home, 'missing'), '--source', 'x']).stderr).toMatch(/^lineage: LINEAGE_(NOT_A_CHECKPOINT|UNKNOWN_CHECKPOINT): /);
    expect(files(ckpt)).toEqual(before);
  });

  it('refuses while a writer is live (LINEAGE_LOCKED), and changes nothing', async () => {
    const home = completedHome();
    const ckpt = join(home, 'ckpt');
    const writer = await LineageStore.open(ckpt);
    try {
      const r = lineage(['invalidate', ckpt, '--source', 'part-0001.jsonl']);
      expect(r.stderr).toMatch(/^lineage: LINEAGE_LOCKED: /);
      expect(r.code).toBe(1);
    } finally {
      await writer.close();
    }
    expect(Object.values(codes(plan(home))).every((v) => v === 'skip/complete')).toBe(true);
    // --dry-run only reads: it answers while the writer is live.
    const again = await LineageStore.open(ckpt);
    try {
      expect(lineage(['invalidate', ckpt, '--source', 'part-0001.jsonl', '--dry-run']).stdout).toMatch(/^would void /);
    } finally {
      await again.close();
    }
  });

  it('source-counter mode: --source drops the source state, the plan says invalidated-by-hand, the rerun redoes it whole', () => {
    const home = tempDir('lineage-cli-invalidate-sources-');
    makeExampleData(join(home, 'data'), 3, 60);
    expect(runExample(home, '--mode', 'sources').status).toBe(0);
    const ckpt = join(home, 'ckpt');
    expect(lineage(['invalidate', ckpt, '--stage', 'merge']).stderr).toMatch(/^lineage: LINEAGE_NOT_ATTRIBUTABLE: .*void sources with --source/);
    const r = lineage(['invalidate', ckpt, '--source', 'part-0001.jsonl']);
    expect(r.stderr).toBe('');
    expect(codes(plan(home))).toEqual({ 'part-0000.jsonl': 'skip/complete', 'part-0001.jsonl': 'invalidated/invalidated-by-hand', 'part-0002.jsonl': 'skip/complete' });
    const rerun = runExample(home);
    expect(rerun.status).toBe(0);
    expect((rerun.report as RunReport).sources.skipped).toBe(2);
    expect(Object.values(codes(plan(home))).every((v) => v === 'skip/complete')).toBe(true);
  });
});
