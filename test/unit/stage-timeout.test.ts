// A stage call that never settles. With `timeoutMs` (the stage's, or the run's
// default) the call fails that task with "timed out after N ms" (retries apply,
// a late settle is ignored). Without one, a run whose event loop would empty
// while calls are pending ends with LINEAGE_STALLED naming the stage and task,
// instead of Node exiting 13 with nothing said. Real `lineage run` processes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { LineageStore, Pipeline, isLineageError, rootLineage, type Stage } from '../../src/index.js';
import { ROOT, ensureBuilt, lineage } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const LIB = pathToFileURL(join(ROOT, 'dist', 'index.js')).href;

/** A module whose stage "hang" never settles on the source "stuck"; `extra` runs at the module's top level. */
function hangingModule(dir: string, options: { timeoutMs?: number; extra?: string; stateful?: boolean }): string {
  const file = join(dir, 'pipeline.mjs');
  const timeout = options.timeoutMs === undefined ? '' : `timeoutMs: ${options.timeoutMs},`;
  writeFileSync(
    file,
    `import { Pipeline } from ${JSON.stringify(LIB)};
${options.extra ?? ''}
export default new Pipeline([
  { id: 'hang', ${timeout} process: (x, ctx) => (ctx.sourceKey === 'stuck' ? new Promise(() => {}) : Promise.resolve(x)) },
  { id: 'write', process: (x) => x },
]);
export const sources = [{ key: 'a', data: 'a' }, { key: 'stuck', data: 's' }, { key: 'c', data: 'c' }];
`,
  );
  return file;
}

async function outcomeOf(ckpt: string, key: string) {
  const store = await LineageStore.open(ckpt, { readOnly: true });
  try {
    const task = store.get(rootLineage(key).udid);
    return { outcome: task?.outcome ?? null, complete: task?.completed != null };
  } finally {
    await store.close();
  }
}

beforeAll(() => ensureBuilt());

describe('a stage call that never settles', () => {
  for (const [name, extra] of [
    // A timer that outlives the timeout keeps the event loop busy, so only the timeout can end the call.
    ['with a live timer in the process', 'setTimeout(() => {}, 3000);'],
    ['with nothing else alive', ''],
  ] as const) {
    it(`timeoutMs fails that task with "timed out after N ms" (${name}); the others are recorded`, async () => {
      const dir = tempDir();
      const ckpt = join(dir, 'ckpt');
      const r = lineage(['run', hangingModule(dir, { timeoutMs: 300, extra }), '--checkpoint', ckpt, '--json']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      const report = JSON.parse(r.stdout) as { failed: number; failures: { stage: string; sourceKey: string; error: string }[] };
      expect(report.failed).toBe(1);
      expect(report.failures).toEqual([expect.objectContaining({ stage: 'hang', sourceKey: 'stuck', error: 'timed out after 300 ms' })]);
      expect(await outcomeOf(ckpt, 'stuck')).toEqual({ outcome: { kind: 'failed', stage: 'hang', error: 'timed out after 300 ms' }, complete: false });
      expect((await outcomeOf(ckpt, 'a')).complete).toBe(true);
      expect((await outcomeOf(ckpt, 'c')).complete).toBe(true);
    }, 60_000);
  }

  it('without timeoutMs and nothing else alive: LINEAGE_STALLED naming the stage and task, exit 1, no stack; finished work is kept', async () => {
    const dir = tempDir();
    const ckpt = join(dir, 'ckpt');
    const r = lineage(['run', hangingModule(dir, {}), '--checkpoint', ckpt]);
    expect(r.code).toBe(1);
    const udid = rootLineage('stuck').udid;
    expect(r.stderr).toMatch(/^lineage: LINEAGE_STALLED: /);
    expect(r.stderr).toContain('stage "hang"');
    expect(r.stderr).toContain(udid);
    expect(r.stderr).toContain('timeoutMs');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect((await outcomeOf(ckpt, 'a')).complete).toBe(true);
    expect(await outcomeOf(ckpt, 'stuck')).toEqual({ outcome: expect.objectContaining({ kind: 'failed', stage: 'hang', error: expect.stringContaining('never settled') }), complete: false });
  }, 60_000);

  it('without timeoutMs but with a live timer: the run waits for the timer, then stalls with LINEAGE_STALLED', () => {
    const dir = tempDir();
    const started = Date.now();
    const r = lineage(['run', hangingModule(dir, { extra: 'setTimeout(() => {}, 1000);' }), '--checkpoint', join(dir, 'ckpt')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^lineage: LINEAGE_STALLED: .*stage "hang"/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  }, 60_000);
});

describe('timeoutMs in process', () => {
  it('retries apply: a call that hangs once and then answers succeeds; the late settle of the first is ignored', async () => {
    const dir = tempDir();
    let resolveFirst: ((v: string) => void) | null = null;
    const written: string[] = [];
    const stages: Stage[] = [
      {
        id: 'flaky',
        timeoutMs: 50,
        retries: 1,
        process: (x: string, ctx) => (ctx.attempt === 0 ? new Promise<string>((r) => (resolveFirst = r)) : Promise.resolve(`${x}-retried`)),
      },
      { id: 'write', process: (x: string) => (written.push(x), x) },
    ];
    const report = await new Pipeline(stages).run([{ key: 'a', data: 'a' }], { checkpoint: dir });
    expect(report.failed).toBe(0);
    expect(written).toEqual(['a-retried']);
    resolveFirst!('late');
    await new Promise((r) => setTimeout(r, 20));
    expect(written).toEqual(['a-retried']);
  });

  it('the run option is the default for every stage; a late settle after the failure records nothing', async () => {
    const dir = tempDir();
    let late: (() => void) | null = null;
    const report = await new Pipeline([{ id: 'slow', process: () => new Promise<string>((r) => (late = () => r('too late'))) }]).run([{ key: 'a' }], {
      checkpoint: dir,
      timeoutMs: 40,
    });
    expect(report.failures).toEqual([expect.objectContaining({ stage: 'slow', error: 'timed out after 40 ms' })]);
    late!();
    await new Promise((r) => setTimeout(r, 20));
    expect(await outcomeOf(dir, 'a')).toEqual({ outcome: { kind: 'failed', stage: 'slow', error: 'timed out after 40 ms' }, complete: false });
  });

  it('a stateful stage: an absorb past its timeoutMs fails that input and holds finish back', async () => {
    let finished = false;
    const report = await new Pipeline([
      {
        id: 'collect',
        timeoutMs: 30,
        absorb: (x: string) => (x === 'stuck' ? new Promise<void>(() => {}) : undefined),
        finish: () => ((finished = true), 'all'),
      },
    ]).run(['a', 'stuck'].map((key) => ({ key, data: key })));
    expect(report.failures).toEqual([expect.objectContaining({ stage: 'collect', sourceKey: 'stuck', error: 'timed out after 30 ms' })]);
    expect(finished).toBe(false);
    expect(report.stages[0]!.held).toBe(1);
  });

  it('the stall watch is one beforeExit listener however many runs are active, and none once they returned', async () => {
    const before = process.listenerCount('beforeExit');
    const during: number[] = [];
    const stage = { id: 'look', process: async () => (during.push(process.listenerCount('beforeExit')), await new Promise((r) => setTimeout(r, 10)), 'x') };
    await Promise.all(Array.from({ length: 12 }, () => new Pipeline([stage]).run([{ key: 'a' }])));
    expect(during).toHaveLength(12);
    expect(new Set(during)).toEqual(new Set([before + 1]));
    expect(process.listenerCount('beforeExit')).toBe(before);
  });

  it('a stage timeout overrides the run default', async () => {
    const report = await new Pipeline([{ id: 'slow', timeoutMs: 500, process: () => new Promise((r) => setTimeout(() => r('ok'), 100)) }]).run([{ key: 'a' }], {
      timeoutMs: 20,
    });
    expect(report.failed).toBe(0);
  });

  it('refuses a timeout that is not a positive finite number, naming the stage', async () => {
    for (const bad of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, '100']) {
      let err: unknown;
      try {
        new Pipeline([{ id: 'slow', timeoutMs: bad as number, process: (x: unknown) => x }]);
      } catch (e) {
        err = e;
      }
      expect(isLineageError(err, 'LINEAGE_INVALID_PIPELINE'), String(bad)).toBe(true);
      expect((err as Error).message).toContain('"slow"');
      expect((err as Error).message).toContain('timeoutMs');
      await expect(new Pipeline([{ id: 'ok', process: (x: unknown) => x }]).run([{ key: 'a' }], { timeoutMs: bad as number })).rejects.toMatchObject({
        code: 'LINEAGE_INVALID_ARGUMENT',
        message: expect.stringContaining('timeoutMs'),
      });
    }
  });
});
