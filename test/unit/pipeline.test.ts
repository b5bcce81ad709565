import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  LineageStore,
  Pipeline,
  adaptStage,
  assignChildLineage,
  childLineage,
  failed,
  rootLineage,
  type Source,
  type Stage,
} from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A three-stage pipeline over numbers: split into digits, drop zeros (or fail on a marked digit), sum per source. */
function numbers(opts: { failOn?: Set<string>; calls?: string[]; outputs?: Map<string, number> } = {}) {
  const calls = opts.calls ?? [];
  const split: Stage<string, string> = {
    id: 'split',
    process: (n, ctx) => {
      calls.push(`split:${ctx.sourceKey}`);
      return n.split('');
    },
  };
  const clean: Stage<string, number> = {
    id: 'clean',
    process: async (d, ctx) => {
      calls.push(`clean:${ctx.sourceKey}:${d}`);
      if (opts.failOn?.has(`${ctx.sourceKey}:${d}`)) return failed(`digit ${d} is marked bad`);
      return d === '0' ? null : Number(d);
    },
  };
  const sum: Stage<number, number> = {
    id: 'sum',
    groupBy: 'source',
    processBatch: (xs, ctx) => {
      calls.push(`sum:${ctx.sourceKey}`);
      const total = xs.reduce((a, b) => a + b, 0);
      opts.outputs?.set(ctx.sourceKey!, total);
      return total;
    },
  };
  return { pipeline: new Pipeline([split, clean, sum]), calls };
}

/** Sources named by their digits: "s105" holds "105". */
const sources = (...keys: string[]): Source<string>[] => keys.map((k) => ({ key: k, data: k.replace(/\D/g, '') }));

describe('assignChildLineage and the adapter', () => {
  const root = rootLineage('part-0000.jsonl');

  it('gives children the lineage of docs/design.md §2, keyed slots included', () => {
    const out = assignChildLineage('split', [root], ['a', 'b']);
    expect(out.kind).toBe('children');
    if (out.kind !== 'children') return;
    expect(out.children.map((c) => c.lineage.udid)).toEqual([childLineage('split', [root.udid], 0).udid, childLineage('split', [root.udid], 1).udid]);
    expect(out.children[1]!.lineage.sourceKey).toBe('part-0000.jsonl');
    const keyed = assignChildLineage('split', [root], [{ shard: 7 }], { key: (c) => `shard-${c.shard}` });
    expect(keyed.kind === 'children' && keyed.children[0]!.lineage.udid).toBe('9f78efd833f33fb157c61a6b29d3f451');
  });

  it('normalises filtered and failed results', () => {
    expect(assignChildLineage('s', [root], null).kind).toBe('filtered');
    expect(assignChildLineage('s', [root], undefined).kind).toBe('filtered');
    expect(assignChildLineage('s', [root], []).kind).toBe('filtered');
    expect(assignChildLineage('s', [root], failed('nope'))).toEqual({ kind: 'failed', reason: 'nope' });
  });

  it('refuses two children with one key', () => {
    expect(() => assignChildLineage('s', [root], [1, 1], { key: (c) => String(c) })).toThrow(expect.objectContaining({ code: 'LINEAGE_INVALID_ARGUMENT' }));
  });

  it('lets any executor run and record a stage, with retries', async () => {
    const store = await LineageStore.open(tempDir());
    let tries = 0;
    const flaky = adaptStage<string, string>(
      {
        id: 'split',
        retries: 2,
        process: (s) => {
          if (++tries < 3) throw new Error('transient');
          return [s, s];
        },
      },
      { recorder: store, terminal: true },
    );
    const r = await flaky.call([{ data: 'x', lineage: root }]);
    expect(r.kind).toBe('children');
    expect(r.attempts).toBe(3);
    expect(store.isCompleted(root.udid)).toBe(true);
    const bad = adaptStage({ id: 'split', process: () => failed('always') }, { recorder: store });
    const other = rootLineage('part-0001.jsonl');
    expect(await bad.call([{ data: 'y', lineage: other }])).toMatchObject({ kind: 'failed', error: 'always', attempts: 1 });
    await store.flush();
    expect(store.get(other.udid)?.outcome).toEqual({ kind: 'failed', stage: 'split', error: 'always' });
    await store.close();
  });
});

describe('Pipeline', () => {
  it('validates stages up front', () => {
    expect(() => new Pipeline([])).toThrow(expect.objectContaining({ code: 'LINEAGE_INVALID_PIPELINE' }));
    const s = { id: 'a', process: () => null };
    expect(() => new Pipeline([s, s])).toThrow(/repeats the id "a"/);
    expect(() => new Pipeline([{ id: 'b', processBatch: () => null } as Stage])).toThrow(/groupBy/);
  });

  it('runs without a checkpoint: fan-out, filter, keyed fan-in, failure', async () => {
    const outputs = new Map<string, number>();
    const { pipeline } = numbers({ outputs, failOn: new Set(['s35:5']) });
    const report = await pipeline.run(sources('s10', 's2', 's35', 's4'));
    // s35's group is held back: its digit 5 failed, and a sum without it would be wrong.
    expect(Object.fromEntries(outputs)).toEqual({ s10: 1, s2: 2, s4: 4 });
    expect(report.checkpoint).toBeNull();
    expect(report.stages.map((s) => [s.stage, s.processed, s.emitted, s.filtered, s.failed, s.held])).toEqual([
      ['split', 4, 6, 0, 0, 0],
      ['clean', 6, 4, 1, 1, 0],
      ['sum', 3, 3, 0, 0, 1],
    ]);
    expect(report.failures).toEqual([expect.objectContaining({ stage: 'clean', sourceKey: 's35', error: 'digit 5 is marked bad' })]);
  });

  it('keyed fan-in waits for every chunk of its source, in a fixed order', async () => {
    const seen: string[][] = [];
    const pipeline = new Pipeline([
      { id: 'split', process: (s: string) => s.split(',') },
      { id: 'slow', concurrency: 8, process: async (x: string) => new Promise((r) => setTimeout(() => r(x), Number(x.slice(1)))) },
      { id: 'merge', groupBy: 'source', processBatch: (xs: string[]) => (seen.push(xs), xs.join('+')) },
    ]);
    await pipeline.run([{ key: 'a', data: 'a9,a1,a5,a3' }, { key: 'b', data: 'b2,b8' }], { concurrency: 8 });
    await pipeline.run([{ key: 'a', data: 'a9,a1,a5,a3' }, { key: 'b', data: 'b2,b8' }], { concurrency: 1 });
    expect(seen).toHaveLength(4);
    expect(seen.filter((g) => g.length === 4)[0]).toEqual(seen.filter((g) => g.length === 4)[1]);
    expect(seen.filter((g) => g.length === 2)[0]).toEqual(seen.filter((g) => g.length === 2)[1]);
  });

  it('arrival batches: at most batchSize, the last one partial', async () => {
    const sizes: number[] = [];
    const pipeline = new Pipeline([{ id: 'batch', batchSize: 4, processBatch: (xs: unknown[]) => (sizes.push(xs.length), null) }]);
    await pipeline.run(Array.from({ length: 10 }, (_, i) => ({ key: `k${i}` })));
    expect(sizes).toEqual([4, 4, 2]);
  });

  it('arrival batches: no partial batch while upstream stages still hold tasks', async () => {
    // 600 sources arrive in several admission rounds; the last round's tasks are still
    // two stages upstream when the source iterator ends, so the leftover 3 must wait for them.
    const sizes: number[] = [];
    const pipeline = new Pipeline([
      { id: 'a', process: (x: unknown) => x ?? 0 },
      { id: 'b', process: (x: unknown) => x ?? 0 },
      { id: 'batch', batchSize: 4, processBatch: (xs: unknown[]) => (sizes.push(xs.length), null) },
    ]);
    await pipeline.run(Array.from({ length: 600 }, (_, i) => ({ key: `k${i}`, data: i })));
    expect(sizes).toHaveLength(150);
    expect(sizes.every((n) => n === 4)).toBe(true);
  });

  it('a rerun of a complete checkpoint makes zero stage calls', async () => {
    const dir = tempDir();
    const first = numbers();
    await first.pipeline.run(sources('s10', 's20', 's30'), { checkpoint: dir });
    const again = numbers();
    const report = await again.pipeline.run(sources('s10', 's20', 's30'), { checkpoint: dir });
    expect(again.calls).toEqual([]);
    expect(report.sources).toEqual({ read: 3, skipped: 3 });
  });

  it('a task that failed reruns alone: completed siblings are pruned', async () => {
    const dir = tempDir();
    const first = numbers({ failOn: new Set(['s123:2']) });
    const r1 = await first.pipeline.run(sources('s123', 's45'), { checkpoint: dir });
    expect(r1.failed).toBe(1);
    const outputs = new Map<string, number>();
    const second = numbers({ outputs });
    const r2 = await second.pipeline.run(sources('s123', 's45'), { checkpoint: dir });
    // s45 is skipped. s123's sum was held back, so its digits are unfinished: they all rerun.
    expect(second.calls.sort()).toEqual(['clean:s123:1', 'clean:s123:2', 'clean:s123:3', 'split:s123', 'sum:s123']);
    expect(r2.sources.skipped).toBe(1);
    expect(outputs.get('s123')).toBe(6);
    const third = numbers();
    await third.pipeline.run(sources('s123', 's45'), { checkpoint: dir });
    expect(third.calls).toEqual([]);
  });

  it('without a fan-in, only the failed task reruns; its finished siblings are pruned', async () => {
    const dir = tempDir();
    const mk = (bad: string | null, calls: string[]) =>
      new Pipeline([
        { id: 'split', process: (s: string, ctx) => (calls.push(`split:${ctx.sourceKey}`), s.split('')) },
        { id: 'write', process: (d: string, ctx) => (calls.push(`write:${ctx.sourceKey}:${d}`), d === bad ? failed('disk full') : `out-${d}`) },
      ]);
    const r1 = await mk('2', []).run(sources('s123', 's45'), { checkpoint: dir });
    expect(r1.failed).toBe(1);
    const calls: string[] = [];
    const r2 = await mk(null, calls).run(sources('s123', 's45'), { checkpoint: dir });
    expect(calls).toEqual(['split:s123', 'write:s123:2']);
    expect(r2.stages[1]).toMatchObject({ stage: 'write', processed: 1, pruned: 2 });
    expect(r2.sources.skipped).toBe(1);
  });

  it('refuses a bad writer id, another mode and arrival batches in counter mode before anything is written', async () => {
    const dir = tempDir();
    const p = numbers().pipeline;
    await p.run(sources('s12'), { checkpoint: dir });
    const before = (await LineageStore.open(dir, { readOnly: true }).then(async (s) => [s.manifest, await s.close()]))[0];
    await expect(p.run(sources('s12'), { checkpoint: dir, writerId: '../x' })).rejects.toMatchObject({ code: 'LINEAGE_INVALID_ARGUMENT' });
    await expect(p.run(sources('s12'), { checkpoint: dir, mode: 'sources' })).rejects.toMatchObject({ code: 'LINEAGE_MODE_MISMATCH' });
    const batched = new Pipeline([{ id: 'b', batchSize: 2, processBatch: () => null }]);
    const fresh = tempDir();
    await expect(batched.run(sources('s1'), { checkpoint: fresh, mode: 'sources' })).rejects.toMatchObject({ code: 'LINEAGE_NOT_ATTRIBUTABLE' });
    expect(readdirSync(fresh)).toEqual([]);
    const after = (await LineageStore.open(dir, { readOnly: true }).then(async (s) => [s.manifest, await s.close()]))[0];
    expect(after).toEqual(before);
  });

  it('refuses resumable: false stages with a checkpoint, naming them', async () => {
    const p = new Pipeline([{ id: 'shuffle', resumable: false, process: (x: unknown) => x }]);
    await expect(p.run(sources('s1'), { checkpoint: tempDir() })).rejects.toMatchObject({ code: 'LINEAGE_STAGE_NOT_RESUMABLE', message: expect.stringContaining('"shuffle"') });
    await expect(p.run(sources('s1'))).resolves.toMatchObject({ failed: 0 });
  });

  it('a changed stage version voids completion from that stage on; accepting it keeps everything', async () => {
    const dir = tempDir();
    const mk = (version: string, calls: string[]) =>
      new Pipeline([
        { id: 'split', process: (s: string) => (calls.push('split'), s === '' ? null : s.split('')) },
        { id: 'clean', version, process: (d: string) => (calls.push('clean'), d) },
      ]);
    const c1: string[] = [];
    await mk('1', c1).run([{ key: 'empty', data: '' }, { key: 'ab', data: 'ab' }], { checkpoint: dir });
    const c2: string[] = [];
    await mk('2', c2).run([{ key: 'empty', data: '' }, { key: 'ab', data: 'ab' }], { checkpoint: dir, acceptChange: true });
    expect(c2).toEqual([]);
    const store = await LineageStore.open(dir, { readOnly: true });
    expect(store.manifest.acceptedChanges).toHaveLength(1);
    expect(store.manifest.fingerprint).toEqual([{ id: 'split' }, { id: 'clean', version: '2' }]);
    await store.close();
    const c3: string[] = [];
    await mk('3', c3).run([{ key: 'empty', data: '' }, { key: 'ab', data: 'ab' }], { checkpoint: dir });
    // "empty" was filtered by split (before the change) and stays complete; "ab" redoes clean only.
    expect(c3).toEqual(['split', 'clean', 'clean']);
    const c4: string[] = [];
    await mk('3', c4).run([{ key: 'empty', data: '' }, { key: 'ab', data: 'ab' }], { checkpoint: dir });
    expect(c4).toEqual([]);
  });
});
