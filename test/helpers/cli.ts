import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin', 'lineage.js');

/** The tests spawn the built binary: build once if dist/ is missing. */
export function ensureBuilt(): void {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built `lineage` binary. */
export function lineage(args: readonly string[], options: { input?: string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    input: options.input,
    env: { ...process.env, ...options.env },
    timeout: 60_000,
    maxBuffer: 256 << 20,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the built binary without waiting (for tests that race it against a writer). */
export function lineageAsync(args: readonly string[]): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

/** Calls `main` in-process with captured streams. */
export async function lineageInProcess(args: readonly string[], options: { stdin?: string; progress?: boolean; progressDelayMs?: number } = {}): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const stdin = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  stdin.end(options.stdin ?? '');
  const code = await main(['node', 'lineage', ...args], {
    stdout,
    stderr,
    stdin,
    progress: options.progress ?? false,
    ...(options.progressDelayMs !== undefined ? { progressDelayMs: options.progressDelayMs } : {}),
    env: {},
  });
  return { code, stdout: out, stderr: err };
}

/** Builds the small fixed checkpoint (fixtures/checkpoints/small.js) into `dir`. */
export function buildSmall(dir: string): string {
  execFileSync(process.execPath, [join(ROOT, 'fixtures', 'checkpoints', 'small.js'), dir], { cwd: ROOT });
  return dir;
}

/** Makes output comparable across runs: the checkpoint path, times and byte counts vary. */
export function normalise(text: string, dir: string): string {
  return text
    .split(dir)
    .join('<ckpt>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>');
}

/** Every file under `dir` with its SHA-256: to show a command changed nothing on disk. */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    const st = statSync(d);
    if (!st.isDirectory()) {
      out[d] = createHash('sha256').update(readFileSync(d)).digest('hex');
      return;
    }
    out[`${d}/`] = 'dir';
    for (const name of readdirSync(d)) walk(join(d, name));
  };
  walk(dir);
  return out;
}
