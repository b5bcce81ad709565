import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { rootLineage } from '../../src/index.js';
import { BAD_CHECKPOINTS } from '../helpers/bad-checkpoints.js';
import { ROOT, buildSmall, ensureBuilt, lineage, lineageAsync, lineageInProcess, snapshotTree } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const TINY = join(ROOT, 'test', 'fixtures', 'tiny-pipeline.js');
const LIB = pathToFileURL(join(ROOT, 'dist', 'index.js')).href;

let small = '';
beforeAll(() => {
  ensureBuilt();
  small = buildSmall(join(tempDir('lineage-cli-run-'), 'small'));
});

/** Writes a pipeline module into `dir` (it imports the built library) and returns its path. */
function pipelineModule(dir: string, name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `import { Pipeline } from ${JSON.stringify(LIB)};\n${body}\n`);
  return file;
}

const STAGES = `[
  { id: 'split', process: (data) => String(data).split('+') },
  { id: 'write', process: (chunk) => chunk.toUpperCase() },
]`;

const normalise = (text: string, ckpt: string) => text.split(ckpt).join('<ckpt>').replace(/\d+\.\d s$/m, '<elapsed>');

interface Report {
  checkpoint: string;
  run: number;
  sources: { read: number; skipped: number };
  stages: { stage: string; processed: number; emitted: number; filtered: number; failed: number; pruned: number }[];
  failed: number;
  failures: { stage: string; udid: string; sourceKey: string; error: string }[];
}

describe('lineage run', () => {
  it('runs the module over its own sources; exit 1 when tasks failed; a rerun skips what is complete', () => {
    const ckpt = join(tempDir('lineage-cli-run-'), 'ckpt');
    const first = lineage(['run', TINY, '--checkpoint', ckpt]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(1);
    expect(normalise(first.stdout, ckpt)).toMatchSnapshot();

    const again = lineage(['run', TINY, '--checkpoint', ckpt, '--json']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(1);
    const report = JSON.parse(again.stdout) as Report;
    expect(report).toMatchObject({ checkpoint: ckpt, run: 2, sources: { read: 3, skipped: 2 }, failed: 1 });
    // part-0001 again: split re-runs, its finished chunk "c" and filtered "skip" are pruned before clean, "bad-7" fails again.
    expect(report.stages).toEqual([
      expect.objectContaining({ stage: 'split', processed: 1, emitted: 3, pruned: 0 }),
      expect.objectContaining({ stage: 'clean', processed: 1, failed: 1, pruned: 2 }),
      expect.objectContaining({ stage: 'write', processed: 0 }),
    ]);
    expect(report.failures).toEqual([{ stage: 'clean', udid: expect.stringMatching(/^[0-9a-f]{32}$/), sourceKey: 'part-0001', error: 'bad record in chunk "bad-7"' }]);

    const fixed = lineage(['run', TINY, '--checkpoint', ckpt], { env: { TINY_FIXED: '1' } });
    expect(fixed.stderr).toBe('');
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toContain('sources     3 read, 2 skipped (already complete)');
    expect(fixed.stdout).toMatch(/\nok: no task failed\.\n$/);
    const stats = JSON.parse(lineage(['stats', ckpt, '--json']).stdout) as { byStatus: unknown; fingerprint: unknown; sources: unknown };
    expect(stats.byStatus).toEqual({ completed: 14, filtered: 2, failed: 0, pending: 0 });
    expect(stats.sources).toEqual({ total: 3, complete: 3 });
    expect(stats.fingerprint).toEqual([{ id: 'split' }, { id: 'clean', version: '1' }, { id: 'write' }]);
    expect(lineage(['verify', ckpt]).code).toBe(0);
  });

  it('--json prints the RunReport alone on stdout', () => {
    const ckpt = join(tempDir('lineage-cli-run-'), 'ckpt');
    const r = lineage(['run', TINY, '--checkpoint', ckpt, '--json'], { env: { TINY_FIXED: '1' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report & { elapsedMs: number };
    expect(report).toMatchObject({ checkpoint: ckpt, run: 1, sources: { read: 3, skipped: 0 }, failed: 0, failures: [] });
    expect(report.elapsedMs).toBeGreaterThan(0);
    expect(report.stages.map((s) => [s.stage, s.processed, s.emitted, s.filtered, s.failed, s.pruned])).toEqual([
      ['split', 3, 5, 1, 0, 0],
      ['clean', 5, 4, 1, 0, 0],
      ['write', 4, 4, 0, 0, 0],
    ]);
  });

  it('--sources <file>: one key per line, comments, blanks and spaces ignored; sourceFromKey makes each source', () => {
    const dir = tempDir('lineage-cli-run-');
    const list = join(dir, 'inputs.txt');
    writeFileSync(list, '# next batch\r\n\r\n  x+y  \r\nskip\r\n   # indented comment\nz+bad-1\n');
    const ckpt = join(dir, 'ckpt');
    const r = lineage(['run', TINY, '--checkpoint', ckpt, '--sources', list, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.sources).toEqual({ read: 3, skipped: 0 });
    expect(report.failures.map((f) => f.sourceKey)).toEqual(['z+bad-1']);
    const doc = JSON.parse(lineage(['inspect', ckpt, '--format', 'json']).stdout) as { tasks: { stage: string | null; sourceKey: string; children: string[] }[] };
    const roots = doc.tasks.filter((t) => t.stage === null);
    expect(roots.map((t) => t.sourceKey).sort()).toEqual(['skip', 'x+y', 'z+bad-1']);
    expect(roots.map((t) => t.children.length).sort()).toEqual([1, 2, 2]);
  });

  it('--sources -: the keys from standard input; without sourceFromKey each source is { key, data: key }', () => {
    const dir = tempDir('lineage-cli-run-');
    const mod = pipelineModule(dir, 'keys-only.mjs', `export const pipeline = new Pipeline(${STAGES});`);
    const ckpt = join(dir, 'ckpt');
    const r = lineage(['run', mod, '--checkpoint', ckpt, '--sources', '-', '--concurrency', '2'], { input: 'a+b\nc\n' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('sources     2 read, 0 skipped');
    expect(r.stdout).toMatch(/^ {2}write\s+3\s+3\s+0\s+0\s+0$/m);
    const rerun = lineage(['run', mod, '--checkpoint', ckpt, '--sources', '-'], { input: 'a+b\nc\nd\n' });
    expect(rerun.stdout).toContain('sources     3 read, 2 skipped');
  });

  it('the module may export sources as a function returning an async iterable', () => {
    const dir = tempDir('lineage-cli-run-');
    const mod = pipelineModule(
      dir,
      'async-sources.mjs',
      `export default new Pipeline(${STAGES});\nexport async function* sources() { for (const key of ['p+q', 'r']) yield { key, data: key }; }`,
    );
    const r = lineage(['run', mod, '--checkpoint', join(dir, 'ckpt'), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Report).stages.at(-1)).toMatchObject({ stage: 'write', processed: 3, emitted: 3 });
  });

  it('--writer-id records into that shard, also while another process writes the checkpoint', async () => {
    const ckpt = join(tempDir('lineage-cli-run-'), 'ckpt');
    const child = spawn(process.execPath, [join(ROOT, 'test', 'children', 'record-live.mjs'), ckpt], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((done) => child.on('exit', done));
    try {
      await new Promise<void>((ready, fail) => {
        child.on('exit', (code) => fail(new Error(`the live writer exited early (${code})`)));
        createInterface({ input: child.stdout }).once('line', () => ready());
      });
      const r = await lineageAsync(['run', TINY, '--checkpoint', ckpt, '--writer-id', 'array-task-7', '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(1); // the tiny pipeline's bad chunk
      expect((JSON.parse(r.stdout) as Report).sources).toEqual({ read: 3, skipped: 0 });
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect(readdirSync(join(ckpt, 'writers')).sort()).toEqual(['array-task-7', 'main']);
    const stats = JSON.parse(lineage(['stats', ckpt, '--json']).stdout) as { shards: { writerId: string; tasks: number }[] };
    expect(stats.shards.find((s) => s.writerId === 'array-task-7')?.tasks).toBe(14);
    expect(lineage(['inspect', ckpt, '--source', 'part-0000']).stdout).toContain(`✓ part-0000  ${rootLineage('part-0000').udid.slice(0, 8)}`);
  });

  it('shows progress on stderr only when asked to (a terminal), and clears it; stdout is the same either way', async () => {
    const [a, b] = [join(tempDir('lineage-cli-run-'), 'ckpt'), join(tempDir('lineage-cli-run-'), 'ckpt')];
    const quiet = await lineageInProcess(['run', TINY, '--checkpoint', a], { progress: false });
    expect(quiet.code).toBe(1);
    expect(quiet.stderr).toBe('');
    const shown = await lineageInProcess(['run', TINY, '--checkpoint', b], { progress: true, progressDelayMs: 0 });
    expect(shown.code).toBe(1);
    const clear = '\r\u001b[K';
    expect(shown.stderr.startsWith(clear) && shown.stderr.endsWith(clear)).toBe(true);
    expect(shown.stderr.slice(clear.length, -clear.length)).toMatch(/^run: 3 sources read, 0 skipped; processed split 3, clean 5, write 3; 1 failed; \d+\.\d s$/);
    expect(normalise(shown.stdout, b)).toBe(normalise(quiet.stdout, a));
  });
});

describe('lineage run: bad input is one error line, and nothing on disk changes', () => {
  /** Runs `lineage run` with `args(parent, ckpt)`; `ckpt` is a copy of the small checkpoint, whose pipeline differs from the tiny one (a run that got going would rewrite it). */
  function refused(setup: (parent: string) => { args: string[]; input?: string }, code: string, exit: number, message: RegExp) {
    const parent = tempDir('lineage-cli-run-bad-');
    cpSync(small, join(parent, 'ckpt'), { recursive: true });
    const { args, input } = setup(parent);
    const before = snapshotTree(parent);
    const r = lineage(['run', ...args], input !== undefined ? { input } : {});
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^lineage: ${code}: [^\\n]+\\n$`));
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(exit);
    expect(snapshotTree(parent)).toEqual(before);
  }
  const ckptOf = (p: string) => join(p, 'ckpt');

  it.each(BAD_CHECKPOINTS.filter((b) => !b.runCreates).map((b) => [b.name, b] as const))('--checkpoint on %s', (_name, bad) => {
    refused((p) => ({ args: [TINY, '--checkpoint', bad.make(p, small).arg] }), bad.code, 1, /./);
  });

  it.each(BAD_CHECKPOINTS.filter((b) => b.runCreates).map((b) => [b.name, b] as const))('--checkpoint on %s: the run creates the checkpoint there', (_name, bad) => {
    const { arg } = bad.make(tempDir('lineage-cli-run-'), small);
    const r = lineage(['run', TINY, '--checkpoint', arg], { env: { TINY_FIXED: '1' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(arg).sort()).toEqual(['lineage.json', 'writers']);
  });

  it('a damaged shard of another writer: LINEAGE_CORRUPT before this writer creates its own shard', () => {
    const parent = tempDir('lineage-cli-run-bad-');
    const ckpt = join(parent, 'ckpt');
    // Same pipeline as the checkpoint's, so the run goes straight to opening its writer.
    expect(lineage(['run', TINY, '--checkpoint', ckpt], { env: { TINY_FIXED: '1' } }).code).toBe(0);
    const data = join(ckpt, 'writers', 'main', 'data.mdb');
    truncateSync(data, 3 * 4096 + 100);
    const before = snapshotTree(parent);
    const r = lineage(['run', TINY, '--checkpoint', ckpt, '--writer-id', 'w2']);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^lineage: LINEAGE_CORRUPT: ${data} is damaged: it is truncated: [^\\n]+ Nothing was changed\\. [^\\n]+\\n$`));
    expect(r.code).toBe(1);
    expect(snapshotTree(parent)).toEqual(before); // no writers/w2
  });

  const modules: [string, (dir: string) => string, RegExp][] = [
    ['a missing module', (d) => join(d, 'nope.js'), /nope\.js: it does not exist/],
    ['a directory', (d) => (mkdirSync(join(d, 'pipes')), join(d, 'pipes')), /pipes: it is a directory/],
    ['a syntax error', (d) => pipelineModule(d, 'broken.mjs', 'export default new Pipeline([;'), /broken\.mjs: importing it failed: SyntaxError: /],
    ['a missing dependency', (d) => pipelineModule(d, 'dep.mjs', "import 'no-such-package-xyz';"), /dep\.mjs: importing it failed: .*no-such-package-xyz/],
    ['a throw at import', (d) => pipelineModule(d, 'throws.mjs', "throw new Error('no credentials for the bucket');"), /throws\.mjs: importing it failed: Error: no credentials for the bucket/],
    ['an inconsistent pipeline', (d) => pipelineModule(d, 'dup.mjs', "export default new Pipeline([{ id: 'a', process: (x) => x }, { id: 'a', process: (x) => x }]);"), /dup\.mjs: importing it failed: LINEAGE_INVALID_PIPELINE: /],
    ['no Pipeline export', (d) => pipelineModule(d, 'none.mjs', 'export const stages = [];\nexport function helper() {}'), /none\.mjs: it exports no Pipeline \(as `default` or `pipeline`\); its exports are helper, stages\./],
    ['a TypeScript file', (d) => (writeFileSync(join(d, 'p.ts'), 'export default 1 as number;'), join(d, 'p.ts')), /p\.ts: importing it failed: Node cannot import TypeScript directly/],
    ['a `sources` export of the wrong kind', (d) => pipelineModule(d, 'src.mjs', `export default new Pipeline(${STAGES});\nexport const sources = 42;`), /src\.mjs: its `sources` export is neither/],
  ];
  it.each(modules)('a pipeline module that cannot be used: %s (LINEAGE_MODULE_LOAD, exit 2)', (_what, make, message) => {
    refused((p) => ({ args: [make(p), '--checkpoint', ckptOf(p)] }), 'LINEAGE_MODULE_LOAD', 2, message);
  });

  const lists: [string, (dir: string) => { args: string[]; input?: string }, RegExp][] = [
    ['a missing file', (d) => ({ args: ['--sources', join(d, 'keys.txt')] }), /keys\.txt does not exist/],
    ['a directory', (d) => ({ args: ['--sources', d] }), /is a directory, not a file/],
    ['an empty file', (d) => (writeFileSync(join(d, 'keys.txt'), ''), { args: ['--sources', join(d, 'keys.txt')] }), /keys\.txt holds no source keys/],
    ['only comments and blank lines', (d) => (writeFileSync(join(d, 'keys.txt'), '# todo\n\n   \n# later\n'), { args: ['--sources', join(d, 'keys.txt')] }), /holds no source keys/],
    ['empty standard input', () => ({ args: ['--sources', '-'], input: '' }), /the source list standard input holds no source keys/],
  ];
  it.each(lists)('a source list that cannot be used: %s (LINEAGE_BAD_SOURCES, exit 2)', (_what, make, message) => {
    refused((p) => {
      const { args, input } = make(p);
      return { args: [TINY, '--checkpoint', ckptOf(p), ...args], ...(input !== undefined ? { input } : {}) };
    }, 'LINEAGE_BAD_SOURCES', 2, message);
  });

  it('no sources at all: a module without `sources` and no --sources (LINEAGE_BAD_SOURCES, exit 2)', () => {
    refused((p) => ({ args: [pipelineModule(p, 'bare.mjs', `export default new Pipeline(${STAGES});`), '--checkpoint', ckptOf(p)] }), 'LINEAGE_BAD_SOURCES', 2, /bare\.mjs exports no `sources`\. Give a list with --sources/);
  });

  it('sources that fail at once: a throwing sourceFromKey, a throwing sources generator (LINEAGE_BAD_SOURCES, exit 2)', () => {
    const fromKey = (p: string) => pipelineModule(p, 'fk.mjs', `export default new Pipeline(${STAGES});\nexport function sourceFromKey(key) { throw new Error('no such partition: ' + key); }`);
    refused((p) => ({ args: [fromKey(p), '--checkpoint', ckptOf(p), '--sources', '-'], input: '\n  part-9\n' }), 'LINEAGE_BAD_SOURCES', 2, /sourceFromKey of .*fk\.mjs failed on the key "part-9" \(line 2 of standard input\): no such partition: part-9/);
    const gen = (p: string) => pipelineModule(p, 'gen.mjs', `export default new Pipeline(${STAGES});\nexport function* sources() { throw new Error('listing s3://bucket failed'); }`);
    refused((p) => ({ args: [gen(p), '--checkpoint', ckptOf(p)] }), 'LINEAGE_BAD_SOURCES', 2, /the `sources` of .*gen\.mjs threw while the run read them: listing s3:\/\/bucket failed/);
  });

  it.each([
    [['--checkpoint'], 'LINEAGE_USAGE', /option '--checkpoint <dir>' argument missing/],
    [['--concurrency', '0'], 'LINEAGE_USAGE', /expected a whole number of at least 1, got "0"/],
    [['--concurrency', 'lots'], 'LINEAGE_USAGE', /expected a whole number of at least 1, got "lots"/],
    [['--writer-id', '../other'], 'LINEAGE_INVALID_ARGUMENT', /writerId "\.\.\/other" is not valid/],
    [['--writer-id', '$(hostname)-$$'], 'LINEAGE_INVALID_ARGUMENT', /is not valid/],
  ])('bad options %j: exit 2', (extra, code, message) => {
    refused((p) => ({ args: [TINY, '--checkpoint', ckptOf(p), ...extra] }), code, 2, message);
  });

  it('a stage declared resumable: false with a checkpoint: LINEAGE_STAGE_NOT_RESUMABLE, exit 1', () => {
    const shuffle = (p: string) =>
      pipelineModule(p, 'shuffle.mjs', `export default new Pipeline([{ id: 'shuffle', resumable: false, process: (x) => x }]);\nexport const sources = [{ key: 'a' }];`);
    refused((p) => ({ args: [shuffle(p), '--checkpoint', ckptOf(p)] }), 'LINEAGE_STAGE_NOT_RESUMABLE', 1, /stage "shuffle" declares resumable: false/);
  });
});
