// Stateful stages (docs/design.md §8) in-process, over real LMDB: the fan-in of
// `finish`, checkpoints, retention and expiry, and what a resumed run is
// offered and feeds again.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LineageStore, Pipeline, childLineage, failed, planResume, rootLineage, type Source, type Stage, type StatefulStage } from '../../src/index.js';
import { ROOT, ensureBuilt } from '../helpers/example.js';
import { tempDir } from '../helpers/temp-dir.js';
import { rawEntries, readRaw } from '../helpers/raw-lmdb.js';

/** What the application saw: calls in order, and its saved states by checkpoint id. */
interface App {
  readonly events: string[];
  readonly saved: Map<number, number[]>;
  readonly expired: number[];
  offered: number[][];
}

const newApp = (): App => ({ events: [], saved: new Map(), expired: [], offered: [] });

interface Options {
  /** Checkpoint after this many absorbed inputs. Default 3. */
  every?: number;
  failFinish?: boolean;
  /** Inputs absorb fails on. */
  failOn?: number[];
  /** Checkpoint ids whose save throws. */
  failSave?: number[];
  /** Which checkpoint loadCheckpoint restores: 'newest' (default), null, or a fixed id. */
  load?: 'newest' | null | number;
  keepCheckpoints?: number;
  version?: string;
  /** Called in checkpointExpired before the state is deleted. */
  onExpire?: (id: number) => void;
}

/** A stateful "collect" stage: its state is the list of numbers absorbed; finish emits their sorted list and sum. */
function collect(app: App, o: Options = {}): StatefulStage<number, { values: number[]; sum: number }> {
  let state: number[] = [];
  return {
    id: 'collect',
    ...(o.version !== undefined ? { version: o.version } : {}),
    ...(o.keepCheckpoints !== undefined ? { keepCheckpoints: o.keepCheckpoints } : {}),
    absorb(x) {
      if (o.failOn?.includes(x)) return failed(`cannot take ${x}`);
      app.events.push(`absorb ${x}`);
      state.push(x);
    },
    finish(ctx) {
      app.events.push(`finish ${ctx.inputs}`);
      if (o.failFinish) throw new Error('finish failed on purpose');
      const values = [...state].sort((a, b) => a - b);
      return { values, sum: values.reduce((a, b) => a + b, 0) };
    },
    shouldCheckpoint: ({ inputs }) => inputs >= (o.every ?? 3),
    async saveCheckpoint(stage, id) {
      await new Promise((r) => setImmediate(r));
      if (o.failSave?.includes(id)) throw new Error(`disk full while saving ${id}`);
      app.events.push(`save ${id}`);
      app.saved.set(id, [...state]);
    },
    loadCheckpoint(stage, available) {
      app.offered.push([...available]);
      const want = o.load === undefined || o.load === 'newest' ? (available[0] ?? null) : o.load;
      state = want !== null && app.saved.has(want) ? [...app.saved.get(want)!] : [];
      app.events.push(`load ${want}`);
      return want;
    },
    checkpointExpired(stage, id) {
      o.onExpire?.(id);
      app.events.push(`expired ${id}`);
      app.expired.push(id);
      app.saved.delete(id);
    },
  };
}

/** split a digit string into its digits, then collect them. */
const pipeline = (app: App, o: Options = {}, after: Stage[] = []) =>
  new Pipeline([{ id: 'split', process: (s: string) => s.split('').map(Number) }, collect(app, o), ...after]);

const sources = (...keys: string[]): Source<string>[] => keys.map((k) => ({ key: `s${k}`, data: k }));
const ALL = sources('123', '456', '789', '12');
const absorbedIn = (app: App) => app.events.filter((e) => e.startsWith('absorb ')).map((e) => Number(e.slice(7)));

async function records(dir: string) {
  const store = await LineageStore.open(dir, { readOnly: true });
  try {
    return store.stateCheckpoints();
  } finally {
    await store.close();
  }
}

describe('stateful stages: definition', () => {
  const base = { id: 'st', absorb: () => undefined, finish: () => null };
  const cp = { shouldCheckpoint: () => false, saveCheckpoint: () => undefined, loadCheckpoint: () => null, checkpointExpired: () => undefined };
  const illegal: [string, object, RegExp][] = [
    ['absorb without finish', { id: 'st', absorb: () => undefined }, /"st"\) is a stateful stage with absorb but no finish/],
    ['finish without absorb', { id: 'st', finish: () => null }, /finish but no absorb/],
    ['absorb and process', { ...base, process: () => null }, /exactly one of/],
    ['concurrency 2', { ...base, concurrency: 2 }, /one input at a time/],
    ['groupBy', { ...base, groupBy: 'source' }, /does not use/],
    ['part of Checkpointable', { ...base, shouldCheckpoint: () => true, saveCheckpoint: () => undefined }, /loadCheckpoint, checkpointExpired are missing/],
    ['Checkpointable on a map stage', { id: 'st', process: () => null, ...cp }, /checkpointed state is for stateful stages/],
    ['keepCheckpoints 1 on the stage', { ...base, ...cp, keepCheckpoints: 1 }, /keepCheckpoints 1: keep at least 2/],
  ];
  it.each(illegal)('refuses %s, naming the stage', (_what, stage, message) => {
    expect(() => new Pipeline([stage as Stage])).toThrow(expect.objectContaining({ code: 'LINEAGE_INVALID_PIPELINE', message: expect.stringMatching(message) }));
  });

  it('refuses keepCheckpoints below 2 before touching the checkpoint', async () => {
    const dir = join(tempDir(), 'ckpt');
    for (const keep of [1, 0, 2.5, -3]) {
      await expect(pipeline(newApp()).run(ALL, { checkpoint: dir, keepCheckpoints: keep })).rejects.toMatchObject({
        code: 'LINEAGE_INVALID_ARGUMENT',
        message: expect.stringContaining(`keepCheckpoints ${keep}: keep at least 2`),
      });
    }
    expect(existsSync(dir)).toBe(false);
  });

  it('resumable: false is accepted with a checkpoint when the stage checkpoints its state', async () => {
    const app = newApp();
    const p = new Pipeline([{ ...collect(app), resumable: false }]);
    await expect(p.run(sources('1'), { checkpoint: tempDir() })).resolves.toMatchObject({ failed: 0 });
    const plain = new Pipeline([{ id: 'st', resumable: false, absorb: () => undefined, finish: () => null }]);
    await expect(plain.run(sources('1'), { checkpoint: tempDir() })).rejects.toMatchObject({ code: 'LINEAGE_STAGE_NOT_RESUMABLE', message: expect.stringContaining('"st"') });
  });

  it('is refused in source-counter mode: its output fans in every source', async () => {
    await expect(pipeline(newApp()).run(ALL, { checkpoint: tempDir(), mode: 'sources' })).rejects.toMatchObject({
      code: 'LINEAGE_NOT_ATTRIBUTABLE',
      message: expect.stringContaining('"collect" is a stateful stage'),
    });
  });
});

describe('stateful stages: absorb and finish', () => {
  it('absorbs every input once, in arrival order, and finish names them all as parents', async () => {
    const dir = tempDir();
    const app = newApp();
    const report = await pipeline(app, { every: 100 }).run(ALL, { checkpoint: dir });
    expect(absorbedIn(app).sort()).toEqual([1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(app.events.filter((e) => e.startsWith('finish'))).toEqual(['finish 11']);
    expect(report.stages[1]).toMatchObject({ processed: 11, emitted: 1, calls: 12, state: { restoredFrom: null, absorbed: 11, restored: 0, finished: true } });

    const store = await LineageStore.open(dir, { readOnly: true });
    const digits = ALL.flatMap((s) => s.data!.split('').map((_, i) => childLineage('split', [rootLineage(s.key).udid], i).udid));
    const out = childLineage('collect', digits, 0);
    expect(store.get(out.udid)).toMatchObject({ terminal: true, stage: 'collect' });
    expect(store.get(out.udid)!.parents.sort()).toEqual([...digits].sort());
    for (const s of ALL) expect(store.isSourceCompleted(s.key)).toBe(true);
    await store.close();

    const again = newApp();
    const r2 = await pipeline(again).run(ALL, { checkpoint: dir });
    expect(r2.sources).toEqual({ read: 4, skipped: 4 });
    expect(again.events).toEqual(['load null']);
  });

  it('without a checkpoint, runs the same and calls no Checkpointable method', async () => {
    const app = newApp();
    const outputs: unknown[] = [];
    await pipeline(app, { every: 1 }, [{ id: 'out', process: (x: unknown) => (outputs.push(x), x) }]).run(ALL);
    expect(app.events.filter((e) => !e.startsWith('absorb'))).toEqual(['finish 11']);
    expect(outputs).toEqual([{ values: [1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9], sum: 48 }]);
  });

  it('finish is not called when no input reached the stage', async () => {
    const app = newApp();
    const r = await pipeline(app).run([{ key: 'empty', data: '' }], { checkpoint: tempDir() });
    expect(app.events).toEqual(['load null']);
    expect(r.stages[1]!.state).toMatchObject({ absorbed: 0, finished: false });
  });

  it('its children flow on through later stages, a keyed fan-in included', async () => {
    const seen: unknown[] = [];
    const p = pipeline(newApp(), {}, [
      { id: 'fan', process: (r: { values: number[] }) => r.values.map((v) => ({ v })) },
      { id: 'join', groupBy: 'source', processBatch: (xs: { v: number }[]) => (seen.push(xs.length), xs.length) },
    ]);
    const r = await p.run(ALL, { checkpoint: tempDir() });
    expect(seen).toEqual([11]);
    expect(r.failed).toBe(0);
  });

  it('an input that fails in absorb holds finish back; a last checkpoint means the rerun absorbs only what is missing', async () => {
    const dir = tempDir();
    const app = newApp();
    const r1 = await pipeline(app, { failOn: [5], every: 4 }).run(ALL, { checkpoint: dir });
    expect(r1.failed).toBe(1);
    expect(r1.stages[1]).toMatchObject({ held: 10, state: { finished: false } });
    expect(app.events.some((e) => e.startsWith('finish'))).toBe(false);
    const [kept] = await records(dir);
    expect(kept!.checkpoints[0]!.absorbed).toBe(10); // the last checkpoint holds every input absorbed
    // The stock lmdb package reads the frontier log and the records.
    const env = join(dir, 'writers', 'main');
    expect(rawEntries(env, 'absorbed')).toBe(10);
    expect(readRaw(env, 'state_checkpoints').entries.map(([, v]) => Buffer.from(v, 'hex').toString('utf8')).join('')).toContain('"nextId":4');

    app.events.length = 0;
    const r2 = await pipeline(app, { every: 4 }).run(ALL, { checkpoint: dir });
    expect(absorbedIn(app)).toEqual([5]);
    expect(r2.stages[1]!.state).toMatchObject({ restored: 10, absorbed: 1, finished: true });
    expect(app.events.at(-1)).not.toMatch(/^finish/); // the checkpoints were expired after finish
    expect(app.events).toContain('finish 11');
  });
});

describe('stateful stages: checkpoints', () => {
  beforeAll(ensureBuilt);

  it('keeps the newest N; the rest are expired, each only once the newer record is on disk', async () => {
    const dir = tempDir();
    const app = newApp();
    const onDisk: Record<number, number[]> = {};
    // A separate process reads the records at each expiry: what it sees is committed.
    const onExpire = (id: number) => {
      const r = spawnSync(
        process.execPath,
        ['--input-type=module', '-e', `import { LineageStore } from '${join(ROOT, 'dist', 'index.js')}'; const s = await LineageStore.open(process.argv[1], { readOnly: true }); console.log(JSON.stringify(s.stateCheckpoints()[0]?.checkpoints.map((c) => c.id) ?? [])); await s.close();`, dir],
        { encoding: 'utf8' },
      );
      onDisk[id] = JSON.parse(r.stdout) as number[];
    };
    const r = await pipeline(app, { every: 1, failFinish: true, keepCheckpoints: 3, onExpire }).run(ALL, { checkpoint: dir });
    expect(r.stages[1]!.state!.checkpoints).toBe(11);
    expect(app.expired).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const id of app.expired) {
      expect(onDisk[id]).not.toContain(id);
      expect(onDisk[id]).toHaveLength(3);
    }
    const [stage] = await records(dir);
    expect(stage).toMatchObject({ stage: 'collect', writerId: 'main' });
    expect(stage!.checkpoints.map((c) => [c.id, c.absorbed])).toEqual([[11, 11], [10, 10], [9, 9]]);
    expect([...app.saved.keys()].sort((a, b) => a - b)).toEqual([9, 10, 11]);

    // finish succeeds: every checkpoint is expired, and no record is left.
    const r2 = await pipeline(app, { keepCheckpoints: 3 }).run(ALL, { checkpoint: dir });
    expect(r2.stages[1]!.state).toMatchObject({ restoredFrom: 11, restored: 11, absorbed: 0, finished: true });
    expect(app.saved.size).toBe(0);
    expect(await records(dir)).toEqual([]);
  });

  it('the default keeps 20', async () => {
    const dir = tempDir();
    const app = newApp();
    const many = sources('1234567890', '1234567890', '12345');
    await pipeline(app, { every: 1, failFinish: true }).run(many.map((s, i) => ({ ...s, key: `k${i}` })), { checkpoint: dir });
    const [stage] = await records(dir);
    expect(stage!.checkpoints).toHaveLength(20);
    expect(app.expired).toEqual([1, 2, 3, 4, 5]);
  });

  it('a checkpoint whose save threw is never recorded, never offered', async () => {
    const dir = tempDir();
    const app = newApp();
    const r1 = await pipeline(app, { failSave: [2], failFinish: true }).run(ALL, { checkpoint: dir });
    expect(r1.stages[1]!.state!.errors).toEqual(['saveCheckpoint(2) failed: disk full while saving 2']);
    // The failed save is retried at the next input (new id); its own id is expired at once.
    expect(app.events.filter((e) => /^(save|expired)/.test(e))).toEqual(['save 1', 'expired 2', 'save 3', 'save 4']);
    const r2 = await pipeline(app, { failFinish: true }).run(ALL, { checkpoint: dir });
    expect(app.offered.at(-1)).toEqual([4, 3, 1]);
    expect(r2.stages[1]!.state).toMatchObject({ restoredFrom: 4 });
  });

  it('loadCheckpoint returning an id that was not offered is refused, naming the stage and the id', async () => {
    const dir = tempDir();
    const app = newApp();
    await pipeline(app, { failFinish: true }).run(ALL, { checkpoint: dir });
    const before = await records(dir);
    app.events.length = 0;
    await expect(pipeline(app, { load: 7 }).run(ALL, { checkpoint: dir })).rejects.toMatchObject({
      code: 'LINEAGE_UNKNOWN_CHECKPOINT',
      message: expect.stringMatching(/stage "collect": loadCheckpoint returned checkpoint 7, which is not one of the checkpoints offered \(3, 2, 1/),
    });
    expect(absorbedIn(app)).toEqual([]);
    expect(await records(dir)).toEqual(before);
  });

  it('null replays everything: every record is dropped and expired', async () => {
    const dir = tempDir();
    const app = newApp();
    await pipeline(app, { failFinish: true }).run(ALL, { checkpoint: dir });
    app.events.length = 0;
    const r = await pipeline(app, { load: null, every: 100 }).run(ALL, { checkpoint: dir });
    expect(app.expired.sort()).toEqual([1, 2, 3]);
    expect(absorbedIn(app)).toHaveLength(11);
    expect(r.stages[1]!.state).toMatchObject({ restoredFrom: null, restored: 0, absorbed: 11, finished: true });
    expect(app.events.filter((e) => e.startsWith('finish'))).toEqual(['finish 11']);
  });

  it('restoring an older checkpoint drops the newer records and the log past its frontier; ids are never reused', async () => {
    const dir = tempDir();
    const app = newApp();
    await pipeline(app, { failFinish: true }).run(ALL, { checkpoint: dir });
    expect((await records(dir))[0]!.checkpoints.map((c) => c.id)).toEqual([3, 2, 1]);
    app.events.length = 0;
    const r = await pipeline(app, { load: 1, failFinish: true, every: 4 }).run(ALL, { checkpoint: dir });
    expect(app.expired.sort()).toEqual([2, 3]);
    expect(r.stages[1]!.state).toMatchObject({ restoredFrom: 1, restored: 3, absorbed: 8 });
    expect(absorbedIn(app)).toHaveLength(8);
    const [stage] = await records(dir);
    expect(stage!.checkpoints.map((c) => [c.id, c.absorbed])).toEqual([[5, 11], [4, 7], [1, 3]]);
    // The newest frontier is exactly the 11 inputs: a further run absorbs nothing again.
    app.events.length = 0;
    const r3 = await pipeline(app).run(ALL, { checkpoint: dir });
    expect(absorbedIn(app)).toEqual([]);
    expect(r3.stages[1]!.state).toMatchObject({ restoredFrom: 5, restored: 11, finished: true });
  });

  it('a new version of the stage voids its checkpoints: expired at start, none offered', async () => {
    const dir = tempDir();
    const app = newApp();
    await pipeline(app, { failFinish: true, version: '1' }).run(ALL, { checkpoint: dir });
    // The plan says so beforehand.
    const same = await planResume(dir, { pipeline: pipeline(newApp(), { version: '1' }) });
    expect(same.stateful).toEqual([expect.objectContaining({ stage: 'collect', offered: expect.objectContaining({ id: 3, absorbed: 9 }), kept: 3, inputsSaved: 9, void: false })]);
    const changed = await planResume(dir, { pipeline: pipeline(newApp(), { version: '2' }) });
    expect(changed.stateful).toEqual([expect.objectContaining({ stage: 'collect', inputsSaved: 0, void: true })]);
    app.events.length = 0;
    const r = await pipeline(app, { version: '2' }).run(ALL, { checkpoint: dir });
    expect(app.events.slice(0, 4)).toEqual(['expired 1', 'expired 2', 'expired 3', 'load null']);
    expect(app.offered.at(-1)).toEqual([]);
    expect(r.stages[1]!.state).toMatchObject({ absorbed: 11, finished: true });
    expect(app.events.filter((e) => e.startsWith('save'))).toEqual(['save 4', 'save 5', 'save 6']); // ids are not reused
  });
});
