// Anything a stage throws or rejects with, whatever its type, fails that task
// (recorded failed, reported, rerun by the next run); the rest of the run goes on.
// A huge error text is cut to a bound, and a child key that throws or is not a
// string fails its task instead of aborting the run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, LineageError, LineageStore, Pipeline, adaptStage, planResume, rootLineage, type Stage } from '../../src/index.js';
import { ROOT, ensureBuilt, lineage } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

beforeAll(() => ensureBuilt());

const badToString = { toString: () => { throw new Error('no text for you'); } };
const badMessage = Object.defineProperty(new Error('x'), 'message', { get: () => { throw new Error('no message'); } });
const nullProto = Object.create(null) as object;

/** Each case: what the stage does on the source "bad"; the other sources emit normally. */
const throwers: [string, (ctx: { sourceKey: string }) => unknown][] = [
  ['throw undefined', () => { throw undefined; }],
  ['throw null', () => { throw null; }],
  ['Promise.reject(undefined)', () => Promise.reject(undefined)],
  ['reject() with no reason', () => new Promise((_, reject) => (reject as () => void)())],
  ['async throw null', async () => { await Promise.resolve(); throw null; }],
  ['an object whose toString throws', () => { throw badToString; }],
  ['an Error whose message getter throws', () => { throw badMessage; }],
  ['a Symbol', () => { throw Symbol('boom'); }],
  ['an object without a prototype', () => { throw nullProto; }],
  ['a rejection with an object whose toString throws', () => Promise.reject(badToString)],
];

describe('a stage that throws anything fails that task, never filters it, never aborts', () => {
  for (const [name, thrower] of throwers) {
    it(name, async () => {
      const dir = tempDir();
      const outputs: string[] = [];
      const stages: Stage[] = [
        { id: 'work', process: (x: string, ctx) => (ctx.sourceKey === 'bad' ? thrower(ctx) : x.toUpperCase()) },
        { id: 'write', process: (x: string) => (outputs.push(x), x) },
      ];
      const report = await new Pipeline(stages).run(
        ['a', 'bad', 'c'].map((key) => ({ key, data: key })),
        { checkpoint: dir, retries: 1 },
      );
      expect(outputs.sort()).toEqual(['A', 'C']);
      expect(report.failed).toBe(1);
      expect(report.stages[0]).toMatchObject({ processed: 3, emitted: 2, filtered: 0, failed: 1 });
      const failure = report.failures[0]!;
      expect(failure).toMatchObject({ stage: 'work', sourceKey: 'bad', udid: rootLineage('bad').udid });
      expect(failure.error.length).toBeGreaterThan(0);
      const store = await LineageStore.open(dir, { readOnly: true });
      try {
        const task = store.get(rootLineage('bad').udid)!;
        expect(task.completed).toBeNull();
        expect(task.outcome).toEqual({ kind: 'failed', stage: 'work', error: failure.error });
      } finally {
        await store.close();
      }
      const plan = await planResume(dir, { sources: ['a', 'bad', 'c'] });
      expect(plan.sources.map((s) => [s.sourceKey, s.verdict])).toEqual([['a', 'skip'], ['bad', 'resume'], ['c', 'skip']]);
    });
  }

  it('names what was thrown in the recorded text', async () => {
    const texts = new Map<string, string>();
    for (const [name, thrower] of throwers) {
      const report = await new Pipeline([{ id: 'work', process: (_x: unknown, ctx) => thrower(ctx) }]).run([{ key: 'bad' }]);
      texts.set(name, report.failures[0]!.error);
    }
    expect(texts.get('throw undefined')).toBe('stage threw undefined');
    expect(texts.get('throw null')).toBe('stage threw null');
    expect(texts.get('Promise.reject(undefined)')).toBe('stage threw undefined');
    expect(texts.get('a Symbol')).toBe('stage threw Symbol(boom)');
    expect(texts.get('an object whose toString throws')).toBe('stage threw an Object that cannot be turned into text');
    expect(texts.get('an Error whose message getter throws')).toBe('stage threw an Error that cannot be turned into text');
  });
});

describe('error texts are bounded; nothing a stage returns can abort the recording of others', () => {
  const BIG = 3 * 1024 * 1024;

  for (const how of ['thrown', 'failed()'] as const) {
    it(`a 3 MB error text (${how}) is recorded cut to 16 KB; the other tasks are recorded`, async () => {
      const dir = tempDir();
      // Multi-byte characters so the cut has to land on a character boundary.
      const huge = 'é'.repeat(BIG / 2);
      const { failed } = await import('../../src/index.js');
      const pipeline = new Pipeline([
        {
          id: 'work',
          process: (x: string, ctx) => {
            if (ctx.sourceKey !== 'bad') return x;
            if (how === 'thrown') throw new Error(huge);
            return failed(huge);
          },
        },
      ]);
      const report = await pipeline.run(['a', 'bad', 'c'].map((key) => ({ key, data: key })), { checkpoint: dir });
      expect(report.failed).toBe(1);
      const text = report.failures[0]!.error;
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(16 * 1024);
      expect(text.endsWith(`… [cut: ${BIG} bytes]`)).toBe(true);
      expect(text.startsWith('éééé')).toBe(true);
      expect(text).not.toContain('\uFFFD');
      const store = await LineageStore.open(dir, { readOnly: true });
      try {
        expect(store.get(rootLineage('bad').udid)!.outcome).toEqual({ kind: 'failed', stage: 'work', error: text });
        expect(store.isCompleted(rootLineage('a').udid)).toBe(true);
        expect(store.isCompleted(rootLineage('c').udid)).toBe(true);
      } finally {
        await store.close();
      }
    });
  }

  it('lineage run: a stage throwing a 3 MB message fails that task with the cut text; the others are recorded; exit 1', async () => {
    const dir = tempDir();
    const module = join(dir, 'pipeline.mjs');
    writeFileSync(
      module,
      `import { Pipeline } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'index.js')).href)};
export default new Pipeline([
  { id: 'work', process: (x, ctx) => { if (ctx.sourceKey === 'bad') throw new Error('x'.repeat(${BIG})); return x; } },
  { id: 'write', process: (x) => x },
]);
export const sources = ['a', 'bad', 'c'].map((key) => ({ key, data: key }));
`,
    );
    const ckpt = join(dir, 'ckpt');
    const r = lineage(['run', module, '--checkpoint', ckpt, '--json']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout) as { failed: number; failures: { sourceKey: string; error: string }[] };
    expect(report.failed).toBe(1);
    expect(report.failures[0]!.sourceKey).toBe('bad');
    expect(report.failures[0]!.error).toBe('x'.repeat(16 * 1024 - Buffer.byteLength(`… [cut: ${BIG} bytes]`)) + `… [cut: ${BIG} bytes]`);
    const plan = await planResume(ckpt, { sources: ['a', 'bad', 'c'] });
    expect(plan.sources.map((s) => s.verdict)).toEqual(['skip', 'resume', 'skip']);
  }, 60_000);

  it('a 3 MB text given to recordFailure directly is cut too', async () => {
    const dir = tempDir();
    const store = await LineageStore.open(dir);
    store.recordFailure({ stage: 'work', task: rootLineage('x'), error: 'x'.repeat(BIG) });
    store.recordEmission({ stage: 'work', parents: [rootLineage('y')], children: [] });
    await store.close();
    const again = await LineageStore.open(dir, { readOnly: true });
    try {
      const error = again.get(rootLineage('x').udid)!.outcome!.error!;
      expect(Buffer.byteLength(error)).toBeLessThanOrEqual(16 * 1024);
      expect(error.endsWith(`… [cut: ${BIG} bytes]`)).toBe(true);
      expect(again.isCompleted(rootLineage('y').udid)).toBe(true);
    } finally {
      await again.close();
    }
  });

  const keys: [string, (child: string) => unknown][] = [
    ['throws', () => { throw new Error('no key for this child'); }],
    ['returns a number', () => 7],
    ['returns an empty string', () => ''],
  ];
  for (const [name, key] of keys) {
    it(`a child key function that ${name} fails that task only`, async () => {
      const dir = tempDir();
      const pipeline = new Pipeline([
        { id: 'split', key: (c: string) => (c.startsWith('bad') ? key(c) : c) as string, process: (x: string) => [`${x}-1`, `${x}-2`] },
        { id: 'write', process: (x: string) => x },
      ]);
      const report = await pipeline.run(['a', 'bad', 'c'].map((k) => ({ key: k, data: k })), { checkpoint: dir });
      expect(report.failed).toBe(1);
      expect(report.failures[0]).toMatchObject({ stage: 'split', sourceKey: 'bad' });
      expect(report.stages[1]).toMatchObject({ processed: 4, emitted: 4 });
      const plan = await planResume(dir, { sources: ['a', 'bad', 'c'] });
      expect(plan.sources.map((s) => s.verdict)).toEqual(['skip', 'resume', 'skip']);
    });
  }

  for (const [name, groupBy] of [
    ['throws', () => { throw new Error('no group for this one'); }],
    ['returns a number', () => 7],
  ] as [string, () => unknown][]) {
    it(`a groupBy that ${name} fails that task; its group is held back, the other sources merge`, async () => {
      const dir = tempDir();
      const merged: string[] = [];
      const pipeline = new Pipeline([
        { id: 'split', process: (x: string) => x.split('') },
        {
          id: 'merge',
          groupBy: (d: string, ctx) => (ctx.sourceKey === 'bad' && d === 'a' ? groupBy() : 'all') as string,
          processBatch: (ds: string[], ctx) => (merged.push(`${ctx.sourceKey}:${ds.sort().join('')}`), ds.join('')),
        },
      ]);
      const report = await pipeline.run(['xy', 'bad'].map((k) => ({ key: k, data: k })), { checkpoint: dir });
      expect(merged).toEqual(['xy:xy']);
      expect(report.failed).toBe(1);
      expect(report.failures[0]).toMatchObject({ stage: 'merge', sourceKey: 'bad' });
      expect(report.failures[0]!.error).toContain('groupBy');
      expect(report.stages[1]).toMatchObject({ failed: 1, held: 2 });
      const plan = await planResume(dir, { sources: ['xy', 'bad'] });
      expect(plan.sources.map((s) => s.verdict)).toEqual(['skip', 'resume']);
    });
  }

  it('a groupBy at stage 0 that throws fails that source only', async () => {
    const dir = tempDir();
    const report = await new Pipeline([
      {
        id: 'merge',
        groupBy: (_d: unknown, ctx) => {
          if (ctx.sourceKey === 'bad') throw null;
          return 'all';
        },
        processBatch: (ds: string[]) => ds.join(''),
      },
    ]).run(['a', 'bad', 'c'].map((k) => ({ key: k, data: k })), { checkpoint: dir });
    expect(report.failed).toBe(1);
    expect(report.failures[0]).toMatchObject({ stage: 'merge', sourceKey: 'bad', error: 'groupBy threw: stage threw null' });
    expect(report.stages[0]).toMatchObject({ processed: 3, emitted: 2 });
    const plan = await planResume(dir, { sources: ['a', 'bad', 'c'] });
    expect(plan.sources.map((s) => s.verdict)).toEqual(['skip', 'resume', 'skip']);
  });

  it('two children with one key fail that task only', async () => {
    const report = await new Pipeline([{ id: 'split', key: () => 'same', process: (x: string) => (x === 'bad' ? [1, 2] : [1]) }]).run(
      ['a', 'bad'].map((k) => ({ key: k, data: k })),
    );
    expect(report.failed).toBe(1);
    expect(report.failures[0]!.error).toContain('"same"');
  });
});

describe('an error of the recorder is not a failure of the task', () => {
  for (const kind of ['sync', 'async'] as const) {
    it(`a ${kind} stage whose emission the recorder cannot record: the call rejects, nothing is recorded failed`, async () => {
      const failures: string[] = [];
      const recorder = {
        recordEmission(): boolean {
          throw new LineageError(ErrorCodes.CORRUPT, 'ckpt/writers/main/data.mdb is damaged');
        },
        recordFailure(rec: { error: string | Error }): boolean {
          failures.push(String(rec.error));
          return true;
        },
      };
      const stage: Stage = { id: 'double', process: kind === 'sync' ? (x: unknown) => [x, x] : async (x: unknown) => [x, x] };
      const adapter = adaptStage(stage, { recorder });
      await expect(adapter.call([{ data: 1, lineage: rootLineage('part-0') }])).rejects.toMatchObject({ code: 'LINEAGE_CORRUPT' });
      expect(failures).toEqual([]);
    });
  }
});
