/**
 * A deleted output and a changed param on the example pipeline, through the
 * real binary. Its write stage declares the file it writes, so deleting one
 * makes that partition resume with code output-missing (the plan names the
 * path), and the rerun writes that file alone again; --no-check-outputs
 * turns the check off. Its normalise stage declares params, so changing one
 * invalidates every partition with code params-changed naming the key. Each
 * rerun ends with the outputs a fresh run on the same inputs writes.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeExampleData } from '../../fixtures/example/make-data.js';
import type { RunReport } from '../../src/index.js';
import { ROOT, lineage } from '../helpers/cli.js';
import { ensureBuilt, outputs, runExample } from '../helpers/example.js';
import { tempDir } from '../helpers/temp-dir.js';

beforeAll(ensureBuilt);

const EXAMPLE = join(ROOT, 'fixtures', 'example', 'pipeline.js');

interface PlanSource {
  sourceKey: string;
  verdict: string;
  code: string;
  reason: string;
  rerun: number;
  missingOutputs?: { udid: string; stage: string; path: string }[];
}

function completedHome(): string {
  const home = tempDir('lineage-cli-outputs-');
  makeExampleData(join(home, 'data'), 6, 120);
  const r = lineage(['run', EXAMPLE, '--checkpoint', join(home, 'ckpt'), '--json'], { env: { LINEAGE_EXAMPLE_DIR: home } });
  expect(r.code).toBe(0);
  return home;
}

function plan(home: string, ...args: string[]): { sources: PlanSource[]; fingerprint: { code: string | null; paramsChanged?: string[] } } {
  const scale = args.indexOf('--scale');
  const cli = scale < 0 ? args : args.filter((_, i) => i !== scale && i !== scale + 1);
  const r = lineage(['plan', join(home, 'ckpt'), '--json', ...cli], { env: { LINEAGE_EXAMPLE_DIR: home, ...envOf(args) } });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { sources: PlanSource[]; fingerprint: { code: string | null; paramsChanged?: string[] } };
}
const envOf = (args: string[]): Record<string, string> => (args.includes('--scale') ? { LINEAGE_EXAMPLE_CENTS_PER_UNIT: args[args.indexOf('--scale') + 1]! } : {});

function run(home: string, env: Record<string, string> = {}, ...args: string[]): RunReport {
  const r = lineage(['run', EXAMPLE, '--checkpoint', join(home, 'ckpt'), '--json', ...args], { env: { LINEAGE_EXAMPLE_DIR: home, ...env } });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as RunReport;
}

/** What a run with no checkpoint writes from the data of `home` (same generator, same inputs). */
function freshOutputs(...args: string[]): Record<string, string> {
  const fresh = tempDir('lineage-cli-outputs-fresh-');
  makeExampleData(join(fresh, 'data'), 6, 120);
  expect(runExample(fresh, '--no-checkpoint', ...args).status).toBe(0);
  return outputs(fresh);
}

const calls = (r: RunReport) => Object.fromEntries(r.stages.map((s) => [s.stage, s.calls]));

describe('a deleted output (outputs() of the write stage)', () => {
  it('resumes that partition with output-missing naming the path; the rerun writes that file alone; outputs equal a fresh run', () => {
    const home = completedHome();
    const before = outputs(home);
    const victim = readdirSync(join(home, 'out')).filter((f) => f.endsWith('.jsonl')).sort()[2]!;
    const path = join(home, 'out', victim);
    rmSync(path);

    const p = plan(home);
    const gone = p.sources.filter((s) => s.code === 'output-missing');
    expect(gone).toHaveLength(1);
    expect(gone[0]).toMatchObject({ verdict: 'resume', reason: `output-missing: ${path}` });
    expect(gone[0]!.missingOutputs).toEqual([{ udid: victim.replace('.jsonl', ''), stage: 'merge', path }]);
    expect(p.sources.filter((s) => s !== gone[0]).every((s) => s.verdict === 'skip')).toBe(true);

    const text = lineage(['plan', join(home, 'ckpt')], { env: { LINEAGE_EXAMPLE_DIR: home } });
    expect(text.stdout).toContain('output-missing (1):');
    const explain = lineage(['plan', join(home, 'ckpt'), '--explain', gone[0]!.sourceKey], { env: { LINEAGE_EXAMPLE_DIR: home } });
    expect(explain.code).toBe(0);
    expect(explain.stdout).toContain('verdict     resume (output-missing)');
    expect(explain.stdout).toContain('trigger     an output it recorded is gone');
    expect(explain.stdout).toContain(path);

    const report = run(home);
    expect(report).toMatchObject({ outputsMissing: 1, sources: { read: 6, skipped: 5 } });
    // That partition's path down to the voided task runs again (what lies under it is not kept
    // between runs), and its file is written again; nothing of the other partitions runs.
    expect(calls(report)).toMatchObject({ read: 1, merge: 1, write: 1 });
    expect(outputs(home)).toEqual(before);
    expect(outputs(home)).toEqual(freshOutputs());
    expect(plan(home).sources.every((s) => s.code === 'complete')).toBe(true);
  });

  it('--no-check-outputs: the plan and the run take the checkpoint at its word', () => {
    const home = completedHome();
    const victim = readdirSync(join(home, 'out')).filter((f) => f.endsWith('.jsonl'))[0]!;
    rmSync(join(home, 'out', victim));
    expect(plan(home, '--no-check-outputs').sources.every((s) => s.verdict === 'skip')).toBe(true);
    const report = run(home, {}, '--no-check-outputs');
    expect(report.outputsMissing).toBe(0);
    expect(Object.values(calls(report)).every((n) => n === 0)).toBe(true);
    expect(Object.keys(outputs(home))).not.toContain(victim);
    const text = lineage(['run', EXAMPLE, '--checkpoint', join(home, 'ckpt')], { env: { LINEAGE_EXAMPLE_DIR: home } });
    expect(text.stdout).toContain('outputs     1 task(s) had an output gone: voided with what they led to, and run again');
    expect(Object.keys(outputs(home))).toContain(victim);
  });
});

describe('a changed param (params of the normalise stage)', () => {
  it('every partition is invalidated with params-changed naming the key; the rerun redoes them; outputs equal a fresh run with the new param', () => {
    const home = completedHome();
    const p = plan(home, '--pipeline', EXAMPLE, '--scale', '1000');
    expect(p.fingerprint).toMatchObject({ code: 'params-changed', paramsChanged: ['centsPerUnit'] });
    const byCode = p.sources.map((s) => `${s.verdict}/${s.code}`);
    // The partition filtered whole at read keeps its completion: nothing of normalise decided it.
    expect(byCode.filter((c) => c === 'invalidated/params-changed').length).toBeGreaterThanOrEqual(5);
    expect(byCode.every((c) => c === 'invalidated/params-changed' || c === 'skip/complete')).toBe(true);

    const report = run(home, { LINEAGE_EXAMPLE_CENTS_PER_UNIT: '1000' });
    // Each invalidated partition runs from its root again (what read emitted is not kept between runs).
    expect(calls(report).read).toBe(byCode.filter((c) => c === 'invalidated/params-changed').length);
    expect(calls(report).normalise).toBeGreaterThan(0);
    expect(calls(report).write).toBeGreaterThan(0);
    expect(outputs(home)).toEqual(freshOutputs('--cents-per-unit', '1000'));
    expect(outputs(home)).not.toEqual(freshOutputs());
  });
});
