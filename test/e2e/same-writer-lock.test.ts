// One writer id is held by one live process at a time (docs/design.md §7): a second
// writable open of a shard that a live process holds is refused at start with
// LINEAGE_LOCKED naming host, pid and since when, and a stale hold (its
// process dead) is taken over. Real processes, real LMDB.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeExampleData } from '../../fixtures/example/make-data.js';
import { ErrorCodes, LineageStore } from '../../src/index.js';
import { processStartTime } from '../../src/store/process-identity.js';
import { BIN, ROOT, ensureBuilt } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const EXAMPLE = join(ROOT, 'fixtures', 'example', 'pipeline.js');
const CLAIM = join(ROOT, 'test', 'children', 'claim-writer.mjs');
const run = promisify(execFile);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

beforeAll(ensureBuilt);

interface Ran {
  readonly pid: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function lineageRun(home: string, env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, 'run', EXAMPLE, '--checkpoint', join(home, 'ckpt'), '--json'], {
      cwd: ROOT,
      env: { ...process.env, LINEAGE_EXAMPLE_DIR: home, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (code, signal) => done({ pid: child.pid!, code, signal, stdout, stderr }));
  });
}

function outputs(home: string): Record<string, string> {
  const out = join(home, 'out');
  if (!existsSync(out)) return {};
  return Object.fromEntries(readdirSync(out).filter((f) => f.endsWith('.jsonl')).sort().map((f) => [f, readFileSync(join(out, f), 'utf8')]));
}

function exampleHome(): string {
  const home = tempDir('lineage-lock-');
  makeExampleData(join(home, 'data'));
  return home;
}

let cleanOutputs: Record<string, string> = {};
beforeAll(async () => {
  const clean = exampleHome();
  const r = await lineageRun(clean);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  cleanOutputs = outputs(clean);
  expect(Object.keys(cleanOutputs).length).toBeGreaterThan(5);
});

describe('two runs on one checkpoint and writer id, one host', () => {
  it('two `lineage run` started together: one runs, the other exits with LINEAGE_LOCKED naming host, pid and since when', async () => {
    for (let trial = 0; trial < 5; trial++) {
      const home = exampleHome();
      // Paced so the winner is still running when the other has started.
      const env = { LINEAGE_EXAMPLE_SLOW_MS: '40' };
      const both = await Promise.all([lineageRun(home, env), lineageRun(home, env)]);
      const winners = both.filter((r) => r.code === 0);
      const losers = both.filter((r) => r.code !== 0);
      expect(winners.length, `trial ${trial}: ${both.map((r) => r.stderr).join(' | ')}`).toBe(1);
      expect(losers.length).toBe(1);
      const [winner, loser] = [winners[0]!, losers[0]!];
      expect(loser.code).toBe(1);
      expect(loser.stdout).toBe('');
      const shard = join(home, 'ckpt', 'writers', 'main');
      expect(loser.stderr).toMatch(
        new RegExp(
          `^lineage: LINEAGE_LOCKED: writer shard "main" at ${escape(shard)} is being written by pid ${winner.pid} on host ${escape(hostname())} ` +
            'since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+Z[^\\n]*\\n$',
        ),
      );
      expect(outputs(home)).toEqual(cleanOutputs);
      // The winner released its claim when it closed.
      expect(existsSync(join(shard, 'owner.json'))).toBe(false);
    }
  }, 120_000);

  it('processes opening the same writer at the same instant: exactly one wins, every time', async () => {
    for (let trial = 0; trial < 8; trial++) {
      const ckpt = join(tempDir('lineage-lock-'), 'ckpt');
      await (await LineageStore.open(ckpt)).close();
      const goAt = String(Date.now() + 700);
      const results = await Promise.all([0, 1, 2].map(() => run(process.execPath, [CLAIM, ckpt, 'main', goAt, '600'])));
      const answers = results.map((r) => JSON.parse(r.stdout.trim()) as { won: boolean; pid?: number; code?: string; message?: string });
      const won = answers.filter((a) => a.won);
      expect(won.length, `trial ${trial}: ${JSON.stringify(answers)}`).toBe(1);
      for (const lost of answers.filter((a) => !a.won)) {
        expect(lost.code).toBe(ErrorCodes.LOCKED);
        expect(lost.message).toContain(`pid ${won[0]!.pid} on host ${hostname()} since `);
      }
      const reader = await LineageStore.open(ckpt, { readOnly: true });
      expect([...reader.sources()].map((s) => s.sourceKey)).toEqual([`from-${won[0]!.pid}`]);
      await reader.close();
    }
  }, 120_000);

  it('a SIGKILLed holder leaves a stale claim that the next run takes over; the outputs equal an uninterrupted run', async () => {
    const home = exampleHome();
    const crashed = await lineageRun(home, { LINEAGE_EXAMPLE_CRASH_AT: 'write:4', LINEAGE_EXAMPLE_SLOW_MS: '5' });
    expect(crashed.signal).toBe('SIGKILL');
    const owner = JSON.parse(readFileSync(join(home, 'ckpt', 'writers', 'main', 'owner.json'), 'utf8')) as { pid: number; host: string };
    expect(owner).toMatchObject({ pid: crashed.pid, host: hostname() });
    const rerun = await lineageRun(home);
    expect(rerun.stderr).toBe('');
    expect(rerun.code).toBe(0);
    expect((JSON.parse(rerun.stdout) as { sources: { skipped: number } }).sources.skipped).toBeGreaterThan(0);
    expect(outputs(home)).toEqual(cleanOutputs);
  }, 60_000);
});

describe('the claim in one process and across pid reuse', () => {
  it('a second writable open in the same process is refused; read-only opens never are', async () => {
    const dir = tempDir();
    const first = await LineageStore.open(dir);
    try {
      const err = await LineageStore.open(dir).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCodes.LOCKED });
      expect((err as Error).message).toContain(`pid ${process.pid} on host ${hostname()} since `);
      const reader = await LineageStore.open(dir, { readOnly: true });
      await reader.close();
    } finally {
      await first.close();
    }
    await (await LineageStore.open(dir)).close(); // released on close
  });

  it('a claim naming a live pid with another start time (a reused pid) is stale; the same start time holds', async () => {
    const dir = tempDir();
    await (await LineageStore.open(dir)).close();
    const sleeper = spawn('sleep', ['30']);
    try {
      await new Promise((r) => sleeper.once('spawn', r));
      const start = processStartTime(sleeper.pid!);
      expect(start).toBeGreaterThan(0);
      const claim = (pidStart: number) =>
        writeFileSync(
          join(dir, 'writers', 'main', 'owner.json'),
          JSON.stringify({ host: hostname(), pid: sleeper.pid, pidStart, startedAt: '2026-01-02T03:04:05.000Z', heartbeatAt: new Date().toISOString() }),
        );
      claim(start!);
      const err = await LineageStore.open(dir).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCodes.LOCKED });
      expect((err as Error).message).toContain(`pid ${sleeper.pid} on host ${hostname()} since 2026-01-02T03:04:05.000Z`);
      claim(start! + 1);
      await (await LineageStore.open(dir)).close();
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('an empty data.mdb of a shard a live writer holds (it is being created) is skipped by readers; once that writer is gone it is LINEAGE_CORRUPT', async () => {
    const dir = tempDir();
    await (await LineageStore.open(dir)).close();
    const shard = join(dir, 'writers', 'starting');
    mkdirSync(shard);
    writeFileSync(join(shard, 'data.mdb'), '');
    const sleeper = spawn('sleep', ['30']);
    try {
      await new Promise((r) => sleeper.once('spawn', r));
      const claim = { host: hostname(), pid: sleeper.pid, pidStart: processStartTime(sleeper.pid!), startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString() };
      writeFileSync(join(shard, 'owner.json'), JSON.stringify(claim));
      const reader = await LineageStore.open(dir, { readOnly: true });
      expect(reader.shards.map((s) => s.writerId)).toEqual(['main']);
      await reader.close();
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper.once('exit', r));
    }
    const err = await LineageStore.open(dir, { readOnly: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.CORRUPT });
    expect((err as Error).message).toContain(join(shard, 'data.mdb'));
  });

  it('a takeover file left by a process killed while taking over does not block claims for good', async () => {
    const dir = tempDir();
    await (await LineageStore.open(dir)).close();
    const shard = join(dir, 'writers', 'main');
    // A dead owner, and the takeover of it cut off: one takeover file naming a dead pid, then an empty one (killed before writing it).
    const deadOwner = JSON.stringify({ host: hostname(), pid: 2 ** 22 + 17, startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString() });
    for (const takeover of [JSON.stringify({ pid: 2 ** 22 + 18 }), '']) {
      writeFileSync(join(shard, 'owner.json'), deadOwner);
      writeFileSync(join(shard, 'owner.takeover'), takeover);
      await (await LineageStore.open(dir)).close();
      expect(existsSync(join(shard, 'owner.takeover'))).toBe(false);
      expect(existsSync(join(shard, 'owner.json'))).toBe(false);
    }
  }, 20_000);

  it('a claim from another pid namespace on this host (a container) holds while its heartbeat is fresh, whatever its pid means here', async () => {
    const dir = tempDir();
    await (await LineageStore.open(dir)).close();
    const claim = (ageMs: number) =>
      writeFileSync(
        join(dir, 'writers', 'main', 'owner.json'),
        JSON.stringify({ host: hostname(), pid: 2 ** 22 + 19, pidNs: 'pid:[1]', startedAt: '2026-01-02T03:04:05.000Z', heartbeatAt: new Date(Date.now() - ageMs).toISOString() }),
      );
    claim(1000);
    const err = await LineageStore.open(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.LOCKED });
    claim(10 * 60_000);
    await (await LineageStore.open(dir)).close();
  });
});
