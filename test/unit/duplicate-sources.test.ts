// A source key given twice in one run is processed once and reported (the
// report's `duplicates`, and a warning line from `lineage run`), whether the
// second occurrence comes while the first is in flight or after it finished,
// from a sync or an async iterable or a `--sources` file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Pipeline, failed, type Source, type Stage } from '../../src/index.js';
import { makeExampleData } from '../../fixtures/example/make-data.js';
import { ROOT, ensureBuilt, lineage } from '../helpers/cli.js';
import { outputs } from '../helpers/example.js';
import { tempDir } from '../helpers/temp-dir.js';

/** split → slow → merge (groupBy source) → write; `written` gets every merged output. */
function fanIn(written: string[], failOn: string | null = null): Pipeline {
  const stages: Stage[] = [
    { id: 'split', process: (s: string) => s.split('') },
    { id: 'slow', concurrency: 8, process: async (d: string, ctx) => (await new Promise((r) => setTimeout(r, 5)), ctx.sourceKey === failOn ? failed('bad') : d) },
    { id: 'merge', groupBy: 'source', processBatch: (ds: string[]) => ds.sort().join('') },
    { id: 'write', process: (m: string, ctx) => (written.push(`${ctx.sourceKey}=${m}`), m) },
  ];
  return new Pipeline(stages);
}

const src = (key: string): Source<string> => ({ key, data: key });

async function* slowly(keys: readonly string[], ms: number): AsyncGenerator<Source<string>> {
  for (const k of keys) {
    await new Promise((r) => setTimeout(r, ms));
    yield src(k);
  }
}

beforeAll(() => ensureBuilt());

describe('a source key given twice in one run', () => {
  for (const checkpoint of [false, true]) {
    it(`while the first is in flight (sync iterable${checkpoint ? ', checkpoint' : ''}): processed once, reported`, async () => {
      const written: string[] = [];
      const report = await fanIn(written).run(['abc', 'xy', 'abc', 'abc'].map(src), checkpoint ? { checkpoint: tempDir() } : {});
      expect(written.sort()).toEqual(['abc=abc', 'xy=xy']);
      expect(report.sources).toEqual({ read: 4, skipped: 0 });
      expect(report.duplicates).toBe(2);
      expect(report.duplicateKeys).toEqual(['abc']);
      expect(report.stages[0]).toMatchObject({ processed: 2 });
    });
  }

  it('after the first finished (async iterable, checkpoint): processed once, reported', async () => {
    const written: string[] = [];
    const report = await fanIn(written).run(slowly(['abc', 'xy', 'abc'], 150), { checkpoint: tempDir() });
    expect(written.sort()).toEqual(['abc=abc', 'xy=xy']);
    expect(report.duplicates).toBe(1);
    expect(report.duplicateKeys).toEqual(['abc']);
    expect(report.stages[0]).toMatchObject({ processed: 2 });
  });

  it('after the first failed (sync iterable, one source in flight at a time): not run again', async () => {
    const written: string[] = [];
    const report = await fanIn(written, 'bad').run(['bad', 'xy', 'bad'].map(src), { checkpoint: tempDir(), maxInFlight: 1 });
    expect(written).toEqual(['xy=xy']);
    expect(report.failed).toBe(3);
    expect(report.stages[1]).toMatchObject({ processed: 5, failed: 3 });
    expect(report.duplicateKeys).toEqual(['bad']);
  });

  it('lineage run --sources with a duplicate line: outputs as without it, a warning on stderr, exit 0', () => {
    const once = tempDir();
    const twice = tempDir();
    for (const dir of [once, twice]) makeExampleData(join(dir, 'data'));
    const list = (dir: string, keys: string[]) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'list.txt'), keys.join('\n') + '\n');
      return join(dir, 'list.txt');
    };
    const pipeline = join(ROOT, 'fixtures', 'example', 'pipeline.js');
    const run = (dir: string, keys: string[]) =>
      lineage(['run', pipeline, '--checkpoint', join(dir, 'ckpt'), '--sources', list(dir, keys), '--json'], { env: { LINEAGE_EXAMPLE_DIR: dir } });
    const a = run(once, ['part-0000.jsonl', 'part-0001.jsonl']);
    expect(a.code, a.stderr).toBe(0);
    const b = run(twice, ['part-0000.jsonl', 'part-0001.jsonl', 'part-0000.jsonl']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toBe('lineage: warning: source key "part-0000.jsonl" was given more than once in this run; it was processed once.\n');
    expect(JSON.parse(b.stdout)).toMatchObject({ duplicates: 1, duplicateKeys: ['part-0000.jsonl'], failed: 0 });
    expect(outputs(twice)).toEqual(outputs(once));
    expect(Object.keys(outputs(once))).toHaveLength(2);
  });
});
