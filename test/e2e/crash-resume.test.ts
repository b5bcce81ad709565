// The example pipeline (fixtures/example) in real child processes, killed with
// SIGKILL at several points; every rerun must finish with exactly the outputs
// of an uninterrupted run, doing less work whenever something had completed.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { planResume } from '../../src/index.js';
import { makeExampleData } from '../../fixtures/example/make-data.js';
import { RUN_EXAMPLE as RUN, ensureBuilt, outputs, runExample, stageCalls as calls } from '../helpers/example.js';
import { tempDir } from '../helpers/temp-dir.js';

let reference: Record<string, string> = {};
let freshCalls = 0;

beforeAll(() => {
  ensureBuilt();
  const dir = tempDir('lineage-crash-ref-');
  makeExampleData(join(dir, 'data'));
  const r = runExample(dir, '--no-checkpoint');
  expect(r.status, r.stderr).toBe(0);
  reference = outputs(dir);
  freshCalls = calls(r.report!);
  // 12 partitions: one empty (filtered by read), one all deleted (chunks filtered by normalise).
  expect(Object.keys(reference)).toHaveLength(10);
}, 120_000);

async function crashThenResume(dir: string, crashArgs: string[][]) {
  makeExampleData(join(dir, 'data'));
  let completeBefore = 0;
  for (const args of crashArgs) {
    const crashed = runExample(dir, ...args);
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
    completeBefore = (await planResume(join(dir, 'ckpt'))).totals.complete;
  }
  const resumed = runExample(dir);
  expect(resumed.status, resumed.stderr).toBe(0);
  expect(resumed.report!.failed).toBe(0);
  expect(outputs(dir)).toEqual(reference);
  if (completeBefore > 0) expect(calls(resumed.report!)).toBeLessThan(freshCalls);
  // And a further rerun has nothing left to do.
  const again = runExample(dir);
  expect(calls(again.report!)).toBe(0);
  expect(again.report!.sources).toEqual({ read: 12, skipped: 12 });
  return { resumed: resumed.report!, completeBefore };
}

describe('crash and resume of the example pipeline (SIGKILL, real processes)', () => {
  it('killed early, in the first stage', async () => {
    await crashThenResume(tempDir(), [['--crash-at', 'read:3', '--slow-ms', '5']]);
  }, 120_000);

  it('killed mid-stage, with normalise calls in flight', async () => {
    const { completeBefore } = await crashThenResume(tempDir(), [['--crash-at', 'normalise:40', '--slow-ms', '5']]);
    expect(completeBefore).toBeGreaterThan(0);
  }, 120_000);

  it('killed during the final stage: finished partitions are skipped, the rest resume', async () => {
    const { resumed, completeBefore } = await crashThenResume(tempDir(), [['--crash-at', 'write:6', '--slow-ms', '10']]);
    expect(completeBefore).toBeGreaterThan(0);
    expect(resumed.sources.skipped).toBeGreaterThan(0);
  }, 120_000);

  it('killed twice (again during the resume), then finished', async () => {
    await crashThenResume(tempDir(), [
      ['--crash-at', 'write:5', '--slow-ms', '10'],
      ['--crash-at', 'normalise:10', '--slow-ms', '10'],
    ]);
  }, 120_000);

  it('source-counter mode: killed during the final stage, then resumed per source', async () => {
    const dir = tempDir();
    makeExampleData(join(dir, 'data'));
    const crashed = runExample(dir, '--mode', 'sources', '--crash-at', 'write:6', '--slow-ms', '10');
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
    const plan = await planResume(join(dir, 'ckpt'));
    expect(plan.mode).toBe('sources');
    expect(plan.totals.skip).toBeGreaterThan(0);
    expect(plan.totals.skip).toBeLessThan(12);
    const resumed = runExample(dir, '--mode', 'sources');
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.report!.sources.skipped).toBe(plan.totals.skip);
    expect(calls(resumed.report!)).toBeLessThan(freshCalls);
    expect(outputs(dir)).toEqual(reference);
    const again = runExample(dir, '--mode', 'sources');
    expect(calls(again.report!)).toBe(0);
  }, 120_000);

  it('killed from outside at an arbitrary moment', async () => {
    const dir = tempDir();
    makeExampleData(join(dir, 'data'));
    const child = spawn(process.execPath, [RUN, dir, '--slow-ms', '25'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((done) => child.on('exit', (_code, signal) => done(signal)));
    const deadline = Date.now() + 60_000;
    while (Object.keys(outputs(dir)).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const written = Object.keys(outputs(dir)).length;
    expect(written).toBeLessThan(10);
    const resumed = runExample(dir);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(outputs(dir)).toEqual(reference);
  }, 120_000);
});
