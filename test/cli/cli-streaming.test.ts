import { execFile, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, ensureBuilt } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

// A checkpoint whose NDJSON is far larger than the heap the tests allow the command.
const SOURCES = 20_000;
const TASKS = SOURCES * 6;
const HEAP_MB = 16;

let big = '';
beforeAll(async () => {
  ensureBuilt();
  big = join(tempDir('lineage-cli-stream-'), 'big');
  await promisify(execFile)(process.execPath, [join(ROOT, 'test', 'children', 'record-sources.mjs'), big, 'main', '0', String(SOURCES)]);
}, 120_000);

/** Runs the binary with a small heap, counting what it writes instead of keeping it. */
function streamed(args: string[]): Promise<{ code: number | null; stderr: string; bytes: number; lines: number; first: string; last: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, BIN, ...args], { cwd: ROOT });
    let stderr = '';
    let bytes = 0;
    let lines = 0;
    let head = '';
    let tail = '';
    child.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
      const text = d.toString();
      for (const ch of text) if (ch === '\n') lines++;
      if (head.length < 4096) head += text;
      tail = (tail + text).slice(-4096);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => {
      const all = tail.trimEnd().split('\n');
      done({ code, stderr, bytes, lines, first: head.split('\n')[0]!, last: all[all.length - 1]! });
    });
  });
}

describe('inspect streams its machine formats', () => {
  it(`--format ndjson: ${TASKS} tasks through a ${HEAP_MB} MB heap, stdout only`, async () => {
    const r = await streamed(['inspect', big, '--format', 'ndjson']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.lines).toBe(TASKS);
    // Keeping the output, or the tasks, in memory would not fit in the heap.
    expect(r.bytes).toBeGreaterThan(2 * HEAP_MB * 2 ** 20);
    expect(JSON.parse(r.first)).toMatchObject({ udid: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(JSON.parse(r.last)).toMatchObject({ udid: expect.stringMatching(/^[0-9a-f]{32}$/) });
  });

  it(`--format json: one document of ${TASKS} tasks through the same heap`, async () => {
    const r = await streamed(['inspect', big, '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.bytes).toBeGreaterThan(2 * HEAP_MB * 2 ** 20);
    expect(r.first).toBe('{');
    expect(r.last).toBe('}');
  });

  it('waits for a slow reader instead of buffering: memory stays flat while stdout is not read', async () => {
    const child = spawn(process.execPath, [BIN, 'inspect', big, '--format', 'ndjson'], { cwd: ROOT });
    child.stdout.pause();
    // Anonymous memory only: LMDB's mapped pages are file-backed and do not count.
    const anonKb = () => Number(/RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    await sleep(1000);
    const early = anonKb();
    await sleep(1500);
    const late = anonKb();
    let bytes = 0;
    child.stdout.on('data', (d: Buffer) => (bytes += d.length));
    child.stdout.resume();
    const code = await new Promise((done) => child.on('close', done));
    expect(code).toBe(0);
    expect(bytes).toBeGreaterThan(40 * 2 ** 20);
    // Ignoring backpressure queues the whole output (40+ MB) in those 2.5 s.
    expect(late - early).toBeLessThan(8 * 1024);
    expect(late).toBeLessThan(64 * 1024);
  });

  it('stops quietly, exit 0, when the reader of a pipe goes away', () => {
    const out = execFileSync('bash', ['-c', `node bin/lineage.js inspect "${big}" --format ndjson 2>"${big}.err" | head -n 1; echo "status:\${PIPESTATUS[0]}"; cat "${big}.err"`], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const [first, status, ...rest] = out.split('\n');
    expect(JSON.parse(first!)).toMatchObject({ udid: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(status).toBe('status:0');
    expect(rest.join('\n')).toBe(''); // nothing on stderr
  });
});
