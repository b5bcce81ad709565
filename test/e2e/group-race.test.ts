// Writers with different ids on one checkpoint, over overlapping sources. While
// one writer has some members of a keyed group in hand, the other may complete
// the whole group; a member pruned on its own then leaves the group short, and
// its short output would be recorded complete. A keyed group is pruned whole or
// not at all, decided when it is handed over: the union of both runs' outputs is
// exactly what one uninterrupted run writes.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LineageStore, Pipeline, planResume, type Stage } from '../../src/index.js';
import { chunksOf, fanInStages } from '../children/fan-in-stages.mjs';
import { ensureBuilt } from '../helpers/example.js';
import { tempDir } from '../helpers/temp-dir.js';

const WRITER = resolve(import.meta.dirname, '..', 'children', 'fan-in-writer.mjs');

interface Merged {
  readonly source: string;
  readonly chunks: number[];
}

const STATEFUL = { FAN_IN_STATEFUL: '1' };

function writer(dir: string, writerId: string, sources: readonly string[], seed?: number, env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const args = [WRITER, join(dir, 'ckpt'), join(dir, 'out'), writerId, sources.join(','), ...(seed === undefined ? [] : [String(seed)])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => done({ code, stderr }));
  });
}

function writerSync(dir: string, writerId: string, sources: readonly string[], env: Record<string, string> = {}): void {
  const r = spawnSync(process.execPath, [WRITER, join(dir, 'ckpt'), join(dir, 'out'), writerId, sources.join(',')], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  expect(r.status, r.stderr).toBe(0);
}

/** Output file name (the merged task's UDID) → content. */
function outputs(dir: string): Record<string, Merged> {
  const out = join(dir, 'out');
  if (!existsSync(out)) return {};
  return Object.fromEntries(
    readdirSync(out)
      .filter((f) => f.endsWith('.json'))
      .map((f) => [f, JSON.parse(readFileSync(join(out, f), 'utf8')) as Merged]),
  );
}

/** Every complete merged task in the checkpoint names all of its source's chunks as parents, and every output is a full group. */
async function expectFullGroups(dir: string): Promise<void> {
  for (const merged of Object.values(outputs(dir))) expect(merged.chunks).toEqual(chunksOf(merged.source).map((c) => c.i));
  const store = await LineageStore.open(join(dir, 'ckpt'), { readOnly: true });
  try {
    for (const file of Object.keys(outputs(dir))) {
      const task = store.get(file.replace(/\.json$/, ''))!;
      expect(task.stage).toBe('merge');
      expect(task.parents).toHaveLength(chunksOf(task.sourceKey!).length);
    }
  } finally {
    await store.close();
  }
}

function uninterrupted(sources: readonly string[], env: Record<string, string> = {}): Record<string, Merged> {
  const dir = tempDir();
  writerSync(dir, 'main', sources, env);
  return outputs(dir);
}

beforeAll(() => ensureBuilt());

describe('writers with different ids over overlapping sources', () => {
  it('a group whose members another writer completes while this one holds some is pruned whole, not merged short', async () => {
    const dir = tempDir();
    // Writer b's shard exists before writer a opens, so a sees what b completes.
    writerSync(dir, 'b', ['s3']);
    let other: Promise<void> | null = null;
    // s1 has chunks 0, 1, 2. Chunk 0 reaches merge at once; chunk 1 is held in clean and
    // chunk 2 in tidy until writer b (another process) has run s1 to the end.
    const gate = (stage: string, chunk: { source: string; i: number }) => {
      if (chunk.source !== 's1' || !((stage === 'clean' && chunk.i === 1) || (stage === 'tidy' && chunk.i === 2))) return null;
      other ??= writer(dir, 'b', ['s1']).then((r) => expect(r.code, r.stderr).toBe(0));
      return other;
    };
    const report = await new Pipeline(fanInStages({ outDir: join(dir, 'out'), gate }) as Stage[]).run([{ key: 's1', data: 's1' }], {
      checkpoint: join(dir, 'ckpt'),
      writerId: 'a',
    });
    expect(other).not.toBeNull();
    expect(report.failed).toBe(0);
    // Writer a merged nothing: the group it held was complete when it was handed over.
    expect(report.stages.find((s) => s.stage === 'merge')).toMatchObject({ processed: 0, calls: 0 });
    expect(outputs(dir)).toEqual(uninterrupted(['s1', 's3']));
    await expectFullGroups(dir);
    expect((await planResume(join(dir, 'ckpt'), { sources: ['s1', 's3'] })).totals.skip).toBe(2);
  }, 60_000);

  it('a stateful stage whose inputs another writer completes meanwhile does not finish over the rest', async () => {
    const dir = tempDir();
    writerSync(dir, 'b', ['s3'], STATEFUL);
    let other: Promise<void> | null = null;
    // Chunk 1 of s2 is held in tidy until writer b has run s1 and s2 to the end; the other chunks are absorbed first.
    const gate = (stage: string, chunk: { source: string; i: number }) => {
      if (chunk.source !== 's2' || stage !== 'tidy' || chunk.i !== 1) return null;
      other ??= writer(dir, 'b', ['s1', 's2'], undefined, STATEFUL).then((r) => expect(r.code, r.stderr).toBe(0));
      return other;
    };
    const stages = fanInStages({ outDir: join(dir, 'out'), gate, stateful: true }) as Stage[];
    const report = await new Pipeline(stages).run(['s1', 's2'].map((key) => ({ key, data: key })), { checkpoint: join(dir, 'ckpt'), writerId: 'a' });
    expect(other).not.toBeNull();
    expect(report.failed).toBe(0);
    expect(report.stages.find((s) => s.stage === 'merge')!.state!.finished).toBe(false);
    expect(report.stages.find((s) => s.stage === 'write')!.processed).toBe(0);
    expect(outputs(dir)).toEqual({ ...uninterrupted(['s3'], STATEFUL), ...uninterrupted(['s1', 's2'], STATEFUL) });
    expect((await planResume(join(dir, 'ckpt'), { sources: ['s1', 's2', 's3'] })).totals.skip).toBe(3);
  }, 60_000);

  it('two processes with other writer ids race over overlapping sources: the union is one uninterrupted run, every group full', async () => {
    const all = Array.from({ length: 12 }, (_, k) => `s${k}`);
    const expected = uninterrupted([...all, 's100', 's101']);
    for (let trial = 0; trial < 4; trial++) {
      const dir = tempDir();
      // Both shards exist before the race, so each writer sees what the other completes.
      writerSync(dir, 'a', ['s100']);
      writerSync(dir, 'b', ['s101']);
      const [a, b] = await Promise.all([writer(dir, 'a', all.slice(0, 9), trial), writer(dir, 'b', all.slice(3).reverse(), trial)]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      expect(outputs(dir), `trial ${trial}`).toEqual(expected);
      await expectFullGroups(dir);
      expect((await planResume(join(dir, 'ckpt'), { sources: [...all, 's100', 's101'] })).totals.skip).toBe(14);
    }
  }, 180_000);
});
