// Ctrl-C and preemption (issue 19, case 6): `lineage run` and a plain script calling Pipeline.run, as
// real child processes sent SIGINT/SIGTERM mid-run. The first signal stops admitting work, lets the calls
// in flight settle, commits and prints one line; the process ends with 130/143; a second signal ends it
// at once. A resume does strictly less work and ends with the outputs of an uninterrupted run.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { callLog, callsIn, reportOf, startCli, startScript, stopOutputs, totalCalls, waitForLog, type Started } from '../helpers/stop-run.js';
import { tempDir } from '../helpers/temp-dir.js';

const SLOW = { STOP_SLOW_MS: '25' };
let reference: Record<string, string> = {};
let freshCalls = 0;

beforeAll(async () => {
  ensureBuilt();
  const home = tempDir('lineage-stop-ref-');
  const r = await startCli(home, {}, ['--json']).done;
  expect(r.code, r.stderr).toBe(0);
  reference = stopOutputs(home);
  freshCalls = totalCalls(reportOf(r.stdout));
  expect(Object.keys(reference)).toHaveLength(40);
  expect(freshCalls).toBe(40 * 7);
}, 120_000);

/** Signals `run` once `writes` outputs were written; resolves to its end. */
async function signalAfterWrites(home: string, run: Started, signal: NodeJS.Signals, writes = 3) {
  await waitForLog(home, (lines) => lines.filter((l) => l.startsWith('write ')).length >= writes);
  run.child.kill(signal);
  return run.done;
}

/** The resume: `lineage run --json` to the end; it must do strictly less than a fresh run and end with the reference outputs. */
async function resumeAndCompare(home: string, checkpoint = join(home, 'ckpt')) {
  const before = callLog(home).length;
  const r = await startCli(home, {}, ['--json'], checkpoint).done;
  expect(r.code, r.stderr).toBe(0);
  const report = reportOf(r.stdout);
  expect(totalCalls(report)).toBeLessThan(freshCalls);
  expect(report.sources.skipped).toBeGreaterThan(0);
  expect(callsIn(callLog(home).slice(before))).toBe(totalCalls(report));
  expect(stopOutputs(home)).toEqual(reference);
  return report;
}

const oneLine = (stderr: string) => stderr.split('\n').filter(Boolean);

describe('lineage run stopped by a signal', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal}: commits what finished, prints one line with the resume command, exits ${code}`, async () => {
      const home = tempDir();
      const ckpt = join(home, 'ckpt');
      const r = await signalAfterWrites(home, startCli(home, SLOW), signal);
      expect(r.signal).toBeNull();
      expect(r.code, r.stderr).toBe(code);
      const lines = oneLine(r.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^lineage: LINEAGE_INTERRUPTED: the run was stopped by ${signal}: .*stage calls .* are committed to ${ckpt}\\.`));
      expect(lines[0]).toContain('To resume, run `lineage run ');
      expect(lines[0]).toContain(`--checkpoint ${ckpt}\` again`);
      // The stop came mid-run: not every output was written.
      expect(Object.keys(stopOutputs(home)).length).toBeLessThan(40);
      const resumed = await resumeAndCompare(home);
      // What the stopped run wrote was recorded complete: its sources are skipped.
      expect(resumed.sources.skipped).toBeGreaterThanOrEqual(3);
    }, 120_000);
  }

  it('a second SIGINT while calls are in flight exits at once with 130', async () => {
    const home = tempDir();
    // One call of work (src-000, part 1) takes 60 s: the graceful stop would wait for it.
    const run = startCli(home, { ...SLOW, STOP_HANG_SOURCE: 'src-000', STOP_HANG_MS: '60000' });
    await waitForLog(home, (lines) => lines.filter((l) => l === 'work src-000').length >= 2 && lines.some((l) => l.startsWith('write ')));
    run.child.kill('SIGINT');
    // The first signal is being handled: the other calls in flight settle, none is started, and the run waits for the long one.
    await new Promise((r) => setTimeout(r, 500));
    expect(run.child.exitCode).toBeNull();
    const settled = callLog(home).length;
    await new Promise((r) => setTimeout(r, 300));
    expect(callLog(home).length).toBe(settled);
    run.child.kill('SIGINT');
    const started = Date.now();
    const r = await run.done;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.code, r.stderr).toBe(130);
    const lines = oneLine(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^lineage: LINEAGE_INTERRUPTED: a second SIGINT while the run was stopping: exiting at once\./);
    expect(callLog(home)).not.toContain('end work src-000 1');
    await resumeAndCompare(home);
  }, 120_000);

  it('the same signal twice within a few ms (a terminal and a forwarding parent) is one request: the stop stays graceful', async () => {
    const home = tempDir();
    // A call of 1.5 s is in flight when the signals come: a graceful stop waits for it.
    const run = startCli(home, { ...SLOW, STOP_HANG_SOURCE: 'src-000', STOP_HANG_MS: '1500' });
    await waitForLog(home, (lines) => lines.filter((l) => l === 'work src-000').length >= 2 && lines.some((l) => l.startsWith('write ')));
    run.child.kill('SIGINT');
    // Apart enough to be delivered as two signals (two pending ones would merge into one).
    await new Promise((r) => setTimeout(r, 30));
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(130);
    const lines = oneLine(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^lineage: LINEAGE_INTERRUPTED: the run was stopped by SIGINT: /);
    expect(callLog(home)).toContain('end work src-000 1');
    await resumeAndCompare(home);
  }, 120_000);
});

describe('a plain script calling Pipeline.run, stopped by a signal', () => {
  it('SIGINT, no handler of its own: the run commits, prints one line and ends the process with 130', async () => {
    const home = tempDir();
    const r = await signalAfterWrites(home, startScript(home, SLOW), 'SIGINT');
    expect(r.code, r.stderr).toBe(130);
    const lines = oneLine(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^lineage: LINEAGE_INTERRUPTED: the run was stopped by SIGINT: .* To resume, rerun the same program: completed work is skipped\.$/);
    // It ended the process: the script's code after `await run` never ran.
    expect(r.stdout).toBe('');
    await resumeAndCompare(home);
  }, 120_000);

  it('SIGTERM, with a handler of its own: Pipeline.run rejects with LINEAGE_INTERRUPTED and the script decides (143)', async () => {
    const home = tempDir();
    const r = await signalAfterWrites(home, startScript(home, SLOW, ['--own-handler']), 'SIGTERM');
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toBe('');
    const caught = /^caught (\S+) (\S+) (\d+) (.*)$/.exec(r.stdout.trim());
    expect(caught, r.stdout).not.toBeNull();
    expect(caught!.slice(1, 4)).toEqual(['LINEAGE_INTERRUPTED', 'SIGTERM', '143']);
    // Its handlers were removed when run returned: the script's own are all that is left.
    expect(JSON.parse(caught![4]!)).toEqual({ before: { SIGINT: 1, SIGTERM: 1 }, after: { SIGINT: 1, SIGTERM: 1 } });
    await resumeAndCompare(home);
  }, 120_000);

  it('handleSignals: false installs nothing: SIGINT kills the process as it would without lineage-dag', async () => {
    const home = tempDir();
    const r = await signalAfterWrites(home, startScript(home, SLOW, ['--no-handle-signals']), 'SIGINT');
    expect(r.signal).toBe('SIGINT');
    expect(r.stderr).toBe('');
  }, 120_000);

  it('a run that ends normally leaves no handler behind', async () => {
    const home = tempDir();
    const r = await startScript(home).done;
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as { listeners: unknown };
    expect(report.listeners).toEqual({ before: { SIGINT: 0, SIGTERM: 0 }, after: { SIGINT: 0, SIGTERM: 0 } });
    expect(stopOutputs(home)).toEqual(reference);
  }, 120_000);
});
