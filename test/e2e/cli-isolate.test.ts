// The `lineage` binary runs each command's LMDB work in a child process (src/cli/isolate.ts):
// a child's death by a crash signal becomes LINEAGE_CORRUPT, other signals pass through.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, ensureBuilt, lineage } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const SIGNAL_PIPELINE = join(ROOT, 'test', 'fixtures', 'signal-pipeline.js');

beforeAll(ensureBuilt);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Starts `lineage run` of the waiting pipeline in a process group of its own (as a shell starts a foreground job). */
function startWaiting(ckpt: string) {
  const child = spawn(process.execPath, [BIN, 'run', SIGNAL_PIPELINE, '--checkpoint', ckpt], {
    cwd: ROOT,
    env: { ...process.env, SIGNAL_PIPELINE: 'wait' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, signal) => done({ code, signal })));
  const waiting = new Promise<number>((done, fail) => {
    child.on('exit', () => fail(new Error(`exited before it waited: ${stderr}`)));
    createInterface({ input: child.stdout }).once('line', (line) => done(Number(line.split(' ')[1])));
  });
  return { child, exited, waiting, stderr: () => stderr };
}

describe('the lineage binary runs LMDB work in a child process', () => {
  it('a child killed by SIGSEGV: one LINEAGE_CORRUPT line naming the data file it had open, exit 1, no signal', () => {
    const ckpt = join(tempDir('lineage-isolate-'), 'ckpt');
    const r = lineage(['run', SIGNAL_PIPELINE, '--checkpoint', ckpt], { env: { SIGNAL_PIPELINE: 'segv' } });
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^lineage: LINEAGE_CORRUPT: [^\n]+\n$/);
    expect(r.stderr).toContain(join(ckpt, 'writers', 'main', 'data.mdb'));
    expect(r.stderr).toContain('SIGSEGV');
    expect(r.stderr).toContain(`lineage verify ${ckpt}`);
    expect(r.code).toBe(1);
  });

  it('a Ctrl-C (SIGINT to the foreground process group) reaches the command once; its exit code passes through', async () => {
    const ckpt = join(tempDir('lineage-isolate-'), 'ckpt');
    const run = startWaiting(ckpt);
    const worker = await run.waiting;
    process.kill(-run.child.pid!, 'SIGINT');
    const end = await run.exited;
    expect(run.stderr()).toBe('got SIGINT\n');
    expect(end).toEqual({ code: 130, signal: null });
    expect(alive(worker)).toBe(false);
  });

  it('a parent killed with SIGKILL takes its child with it', async () => {
    const ckpt = join(tempDir('lineage-isolate-'), 'ckpt');
    const run = startWaiting(ckpt);
    const worker = await run.waiting;
    expect(worker).not.toBe(run.child.pid);
    run.child.kill('SIGKILL');
    expect((await run.exited).signal).toBe('SIGKILL');
    const deadline = Date.now() + 5000;
    while (alive(worker) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(alive(worker)).toBe(false);
  });

  it('help and usage errors run without a child, as before', () => {
    const help = lineage(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: lineage');
    const bad = lineage(['frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^lineage: LINEAGE_USAGE: /);
  });
});
