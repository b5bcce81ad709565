// Pipeline.run's AbortSignal (issue 19, case 6), in-process with a real checkpoint: aborting stops
// admission at once, the calls in flight settle and are committed, and run rejects with
// LINEAGE_INTERRUPTED carrying the reason; a resume ends with the outputs of an uninterrupted run.
// Also: the signal handlers exist only while a run runs.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InterruptedError, LineageStore, Pipeline, isLineageError, type Source, type Stage } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

const SOURCES: Source[] = Array.from({ length: 30 }, (_, i) => ({ key: `s-${i}`, data: i }));

/** split → work (async, concurrency 3) → write; `onWork(n)` is told the n-th work call as it starts. */
function pipeline(outputs: Map<string, number[]>, log: string[], onWork: (n: number) => void = () => {}): Pipeline {
  let works = 0;
  const stages: Stage[] = [
    { id: 'split', process: (n: number) => [n * 10, n * 10 + 1, n * 10 + 2] },
    {
      id: 'work',
      concurrency: 3,
      async process(v: number, ctx) {
        log.push(`work ${ctx.sourceKey}`);
        onWork(++works);
        await new Promise((r) => setTimeout(r, 5));
        log.push(`end ${ctx.sourceKey}`);
        return v * 2;
      },
    },
    { id: 'merge', groupBy: 'source', processBatch: (vs: number[]) => [...vs].sort((a, b) => a - b) },
    {
      id: 'write',
      process(vs: number[], ctx) {
        log.push(`write ${ctx.sourceKey}`);
        outputs.set(ctx.sourceKey, vs);
        return { n: vs.length };
      },
    },
  ];
  return new Pipeline(stages);
}

describe('Pipeline.run with an AbortSignal', () => {
  it('abort mid-run: no call starts after it but those in flight, they are committed, run rejects with the reason; a resume finishes', async () => {
    const reference = new Map<string, number[]>();
    await pipeline(reference, []).run(SOURCES);
    const dir = join(tempDir(), 'ckpt');
    const outputs = new Map<string, number[]>();
    const log: string[] = [];
    const controller = new AbortController();
    const reason = new Error('shutting down for maintenance');
    let abortedAt = -1;
    const run = pipeline(outputs, log, (n) => {
      if (n === 40) {
        controller.abort(reason);
        abortedAt = log.length;
      }
    }).run(SOURCES, { checkpoint: dir, signal: controller.signal, handleSignals: false });
    const err = await run.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InterruptedError);
    const stopped = err as InterruptedError;
    expect(isLineageError(stopped, 'LINEAGE_INTERRUPTED')).toBe(true);
    expect(stopped.signal).toBeNull();
    expect(stopped.cause).toBe(reason);
    expect(stopped.message).toContain('shutting down for maintenance');
    expect(stopped.message).toContain(`committed to ${dir}`);
    expect(stopped.saved).toMatchObject({ checkpoint: dir, sourcesRead: 30 });
    // After the abort: the calls in flight (at most the work stage's 3) end, and nothing new starts.
    const after = log.slice(abortedAt);
    expect(after.filter((l) => l.startsWith('work ')).length).toBe(0);
    expect(after.filter((l) => l.startsWith('end ')).length).toBeLessThanOrEqual(3);
    expect(outputs.size).toBeLessThan(30);
    // What finished was committed: every source written before the stop is complete.
    const store = await LineageStore.open(dir, { readOnly: true });
    try {
      for (const key of outputs.keys()) expect(store.isSourceCompleted(key)).toBe(true);
    } finally {
      await store.close();
    }
    const resumedLog: string[] = [];
    const report = await pipeline(outputs, resumedLog).run(SOURCES, { checkpoint: dir, handleSignals: false });
    expect(report.sources.skipped).toBeGreaterThan(0);
    expect(resumedLog.filter((l) => l.startsWith('work ')).length).toBeLessThan(90);
    expect(outputs).toEqual(reference);
  });

  it('an AbortSignal already aborted: nothing runs, run rejects with LINEAGE_INTERRUPTED', async () => {
    const dir = join(tempDir(), 'ckpt');
    const log: string[] = [];
    const err = await pipeline(new Map(), log)
      .run(SOURCES, { checkpoint: dir, signal: AbortSignal.abort(new Error('too late')), handleSignals: false })
      .then(() => null, (e: unknown) => e);
    expect(isLineageError(err, 'LINEAGE_INTERRUPTED')).toBe(true);
    expect((err as Error).message).toContain('too late');
    expect(log).toEqual([]);
  });

  it('installs its SIGINT/SIGTERM handlers while it runs and removes them when it returns (none with handleSignals: false)', async () => {
    const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
    const during: number[][] = [];
    const seen = (stage: string): Stage => ({
      id: stage,
      process: (v: unknown) => {
        during.push([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]);
        return v;
      },
    });
    await new Pipeline([seen('a')]).run([{ key: 'k', data: 1 }], { checkpoint: join(tempDir(), 'ckpt') });
    expect(during[0]).toEqual([before[0]! + 1, before[1]! + 1]);
    expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).toEqual(before);
    await new Pipeline([seen('b')]).run([{ key: 'k', data: 1 }], { handleSignals: false });
    expect(during[1]).toEqual(before);
    // And after a run that failed.
    await expect(new Pipeline([seen('c')]).run([{ key: '', data: 1 }])).rejects.toThrow(/no key/);
    expect([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')]).toEqual(before);
  });
});
