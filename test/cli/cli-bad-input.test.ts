import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { BAD_CHECKPOINTS } from '../helpers/bad-checkpoints.js';
import { ROOT, buildSmall, ensureBuilt, lineage, lineageAsync, snapshotTree } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

let small = '';
beforeAll(() => {
  ensureBuilt();
  small = buildSmall(join(tempDir('lineage-cli-bad-'), 'small'));
});

/** Every reading or rewriting command, as arguments for a checkpoint path (`parent` is for targets such as --into). */
const COMMANDS: readonly [string, (ckpt: string, parent: string) => string[]][] = [
  ['inspect', (c) => ['inspect', c]],
  ['inspect --format ndjson', (c) => ['inspect', c, '--format', 'ndjson']],
  ['inspect --format dot --udid', (c) => ['inspect', c, '--format', 'dot', '--udid', '07498d2c']],
  ['stats', (c) => ['stats', c]],
  ['stats --json', (c) => ['stats', c, '--json']],
  ['verify', (c) => ['verify', c]],
  ['verify --repair', (c) => ['verify', c, '--repair']],
  ['merge', (c) => ['merge', c]],
  ['merge --into', (c, p) => ['merge', c, '--into', join(p, 'merged')]],
];

describe('a bad checkpoint path: one error line, exit 1, nothing changed on disk', () => {
  // One test per kind of bad path; every command runs on its own copy of it, all at once.
  it.each(BAD_CHECKPOINTS.map((bad) => [bad.name, bad] as const))('%s', async (_name, bad) => {
    const runs = COMMANDS.map(([command, args], i) => {
      const parent = join(tempDir('lineage-cli-bad-'), String(i));
      mkdirSync(parent);
      const { arg, named } = bad.make(parent, small);
      return { command, parent, named, before: snapshotTree(parent), result: lineageAsync(args(arg, parent)) };
    });
    for (const { command, parent, named, before, result } of runs) {
      const r = await result;
      expect(r.stdout, command).toBe('');
      expect(r.stderr, command).toMatch(new RegExp(`^lineage: ${bad.code}: [^\\n]+\\n$`));
      expect(r.stderr, command).toContain(named);
      expect(r.code, command).toBe(1);
      // Every file, lock.mdb included, byte for byte: the command stopped before opening anything.
      expect(snapshotTree(parent), command).toEqual(before);
    }
  });
});

describe('damage the pre-mapping check cannot see', () => {
  // Garbage after intact meta pages (keep the first 8 KiB of data.mdb, fill the rest with seeded noise) passes
  // checkLmdbFile, and LMDB then follows garbage page pointers. It used to die with SIGBUS (exit 135, no error
  // line); the command's child process (src/cli/isolate.ts) and the checks on what is read turn it into an error.
  it('garbage pages behind intact meta pages: LINEAGE_CORRUPT naming the file, exit 1, no signal', async () => {
    const runs = COMMANDS.map(([command, args], i) => {
      const parent = join(tempDir('lineage-cli-garbage-'), String(i));
      mkdirSync(parent);
      const ckpt = join(parent, 'ckpt');
      cpSync(small, ckpt, { recursive: true });
      const file = join(ckpt, 'writers', 'main', 'data.mdb');
      const bytes = readFileSync(file);
      let seed = 19 + i;
      for (let at = 8192; at < bytes.length; at++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        bytes[at] = seed >>> 16;
      }
      writeFileSync(file, bytes);
      return { command, file, result: lineageAsync(args(ckpt, parent)) };
    });
    for (const { command, file, result } of runs) {
      const r = await result;
      expect(r.stdout, command).toBe('');
      expect(r.stderr, command).toMatch(/lineage: LINEAGE_CORRUPT: [^\n]+\n$/);
      expect(r.stderr, command).not.toMatch(/^\s+at /m);
      expect(r.stderr, command).toContain(file);
      expect(r.code, command).toBe(1);
    }
  });
});

describe('a checkpoint being written by a live run', () => {
  /** Starts a writer child on `ckpt`; resolves once it has committed its first hundred sources. */
  function liveWriter(ckpt: string): Promise<{ pid: number; stop: () => Promise<void> }> {
    const child = spawn(process.execPath, [join(ROOT, 'test', 'children', 'record-live.mjs'), ckpt], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((done) => child.on('exit', () => done()));
    return new Promise((ready, fail) => {
      child.on('error', fail);
      child.on('exit', (code) => fail(new Error(`the live writer exited early (${code})`)));
      createInterface({ input: child.stdout }).once('line', (line) => {
        if (line !== 'ready') fail(new Error(`unexpected output from the live writer: ${line}`));
        ready({
          pid: child.pid!,
          stop: async () => {
            child.kill('SIGKILL');
            await exited;
          },
        });
      });
    });
  }

  it('inspect, stats and verify read a consistent view while it records', async () => {
    const ckpt = join(tempDir('lineage-cli-live-'), 'ckpt');
    const writer = await liveWriter(ckpt);
    try {
      const [ndjson, stats, verify, text] = await Promise.all([
        lineageAsync(['inspect', ckpt, '--format', 'ndjson']),
        lineageAsync(['stats', ckpt, '--json']),
        lineageAsync(['verify', ckpt]),
        lineageAsync(['inspect', ckpt, '--depth', '1']),
      ]);
      for (const r of [ndjson, stats, verify, text]) {
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      }
      // One read transaction: every edge of the streamed snapshot points at a task of the same snapshot.
      const tasks = ndjson.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { udid: string; parents: string[]; children: string[] });
      expect(tasks.length).toBeGreaterThanOrEqual(600);
      const seen = new Set(tasks.map((t) => t.udid));
      expect(seen.size).toBe(tasks.length);
      for (const t of tasks) for (const u of [...t.parents, ...t.children]) expect(seen.has(u)).toBe(true);
      expect((JSON.parse(stats.stdout) as { tasks: number }).tasks).toBeGreaterThanOrEqual(600);
      expect(verify.stdout).toContain('ok: no problems found.');
      expect(text.stdout).toMatch(/^✓ part-0 {2}[0-9a-f]{8}$/m);
    } finally {
      await writer.stop();
    }
    // Killed mid-run: what was committed is still a consistent checkpoint.
    const after = lineage(['verify', ckpt]);
    expect(after.stderr).toBe('');
    expect(after.code).toBe(0);
  });

  it('merge refuses while it writes (in place or --into), changing nothing', async () => {
    const parent = tempDir('lineage-cli-live-');
    const ckpt = join(parent, 'ckpt');
    const writer = await liveWriter(ckpt);
    try {
      const listing = () => readdirSync(parent).sort();
      const shards = () => readdirSync(join(ckpt, 'writers')).sort();
      const [before, shardsBefore] = [listing(), shards()];
      for (const args of [['merge', ckpt], ['merge', ckpt, '--into', join(parent, 'merged')]]) {
        const r = lineage(args);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(new RegExp(`^lineage: LINEAGE_LOCKED: writer shard "main" at ${join(ckpt, 'writers', 'main')} is being written by pid ${writer.pid}\\b[^\\n]*\\n$`));
        expect(r.code).toBe(1);
        expect(listing()).toEqual(before); // no temp directory left, no --into directory made
        expect(shards()).toEqual(shardsBefore);
      }
    } finally {
      await writer.stop();
    }
    // The writer died without releasing its owner record: a dead pid does not hold the shard.
    const r = lineage(['merge', ckpt]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(existsSync(join(dirname(ckpt), `.${basename(ckpt)}.merge-`))).toBe(false);
  });
});
