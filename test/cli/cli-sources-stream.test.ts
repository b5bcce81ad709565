// `--sources` from anything readable that is not a directory (issue 19, case
// 11): a FIFO, a process substitution `<(...)`, /dev/null. The real binary,
// through a real shell and a real FIFO.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, ensureBuilt, lineage } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const TINY = join(ROOT, 'test', 'fixtures', 'tiny-pipeline.js');

beforeAll(ensureBuilt);

describe('lineage run / plan --sources from a stream', () => {
  it('a FIFO: the keys written into it are run', async () => {
    const dir = tempDir();
    const fifo = join(dir, 'keys.fifo');
    execFileSync('mkfifo', [fifo]);
    const child = spawn(process.execPath, [BIN, 'run', TINY, '--checkpoint', join(dir, 'ckpt'), '--sources', fifo, '--json'], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    // Opening for writing waits for the reader: the CLI has the FIFO open by then.
    const fd = openSync(fifo, 'w');
    writeSync(fd, 'a+b\n# a comment\nc\n');
    closeSync(fd);
    expect(await closed, stderr).toBe(0);
    expect(stderr).toBe('');
    expect((JSON.parse(stdout) as { sources: unknown }).sources).toEqual({ read: 2, skipped: 0 });
  });

  it('a process substitution <(...): run, then plan sees the same keys', () => {
    const dir = tempDir();
    const ckpt = join(dir, 'ckpt');
    const sh = (cmd: string) => spawnSync('bash', ['-c', cmd], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, BIN, TINY, CKPT: ckpt } });
    const run = sh(`"${process.execPath}" "$BIN" run "$TINY" --checkpoint "$CKPT" --sources <(printf 'x+y\\nz\\n') --json`);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect((JSON.parse(run.stdout) as { sources: unknown }).sources).toEqual({ read: 2, skipped: 0 });
    const plan = sh(`"${process.execPath}" "$BIN" plan "$CKPT" --sources <(printf 'x+y\\nz\\nnew\\n') --json`);
    expect(plan.stderr).toBe('');
    expect(plan.status).toBe(0);
    expect((JSON.parse(plan.stdout) as { totals: { skip: number; new: number } }).totals).toMatchObject({ skip: 2, new: 1 });
  });

  it('/dev/null: read as an empty list (LINEAGE_BAD_SOURCES: no keys), not "a directory"', () => {
    const dir = tempDir();
    const r = lineage(['run', TINY, '--checkpoint', join(dir, 'ckpt'), '--sources', '/dev/null']);
    expect(r.stderr).toMatch(/^lineage: LINEAGE_BAD_SOURCES: the source list \/dev\/null holds no source keys[^\n]*\n$/);
    expect(r.code).toBe(2);
  });

  it('a directory is still called a directory', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'list'));
    const r = lineage(['run', TINY, '--checkpoint', join(dir, 'ckpt'), '--sources', join(dir, 'list')]);
    expect(r.stderr).toMatch(/LINEAGE_BAD_SOURCES: .* is a directory, not a file/);
    expect(r.code).toBe(2);
  });
});
