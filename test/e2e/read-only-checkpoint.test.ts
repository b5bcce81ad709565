// Read-only checkpoints (issue 19, case 10): a directory this user may not
// write, and a read-only mount. The read commands work on them unchanged; a
// run is refused with LINEAGE_READ_ONLY naming the path; no error text advises
// deleting data. Tests run as root here, and root ignores permissions, so the
// CLI is spawned as the unprivileged user 65534 when the test runs as root.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeExampleData } from '../../fixtures/example/make-data.js';
import { BIN, ROOT, buildSmall, ensureBuilt, lineage, snapshotTree, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp-dir.js';

const EXAMPLE = join(ROOT, 'fixtures', 'example', 'pipeline.js');
const isRoot = process.getuid?.() === 0;
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
/** The command prefix that drops root for the CLI, or null when there is none (then the permission tests are skipped). */
const asUser: string[] | null = !isRoot
  ? []
  : has('setpriv')
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
    : has('runuser')
      ? ['runuser', '-u', 'nobody', '--']
      : null;

/** Whether this process may make a private mount namespace with a read-only bind mount in it. */
const canMount =
  isRoot &&
  has('unshare') &&
  spawnSync('unshare', ['-m', 'sh', '-c', 'mount --bind / /mnt && mount -o remount,bind,ro /mnt'], { stdio: 'ignore' }).status === 0;

function run(prefix: readonly string[], args: readonly string[], env: Record<string, string> = {}): CliResult {
  const [cmd, ...rest] = [...prefix, process.execPath, BIN, ...args];
  const r = spawnSync(cmd!, rest, { cwd: '/', encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const READS: readonly string[][] = [['inspect'], ['inspect', '--format', 'ndjson'], ['stats'], ['stats', '--json'], ['plan'], ['verify']];

let home = '';
let ckpt = '';

beforeAll(() => {
  ensureBuilt();
  home = tempDir('lineage-ro-');
  chmodSync(home, 0o755); // mkdtemp makes it 0700: another user could not even look inside
  makeExampleData(join(home, 'data'));
  ckpt = join(home, 'ckpt');
  for (const writerId of ['main', 'w2']) {
    const r = lineage(['run', EXAMPLE, '--checkpoint', ckpt, '--writer-id', writerId], { env: { LINEAGE_EXAMPLE_DIR: home, LINEAGE_EXAMPLE_FAIL: 'part-0005.jsonl:1' } });
    expect(r.code, r.stderr).toBe(1); // one injected failure: a checkpoint with work left to do
  }
});

/** Each read command's output on `dir` as this (root or owning) user, before it is made read-only. */
function readsOf(dir: string): Map<string, CliResult> {
  return new Map(READS.map((args) => [args.join(' '), lineage([args[0]!, dir, ...args.slice(1)])]));
}

afterEach(() => {
  if (existsSync(ckpt)) execFileSync('chmod', ['-R', 'u+w', ckpt]);
});

function expectReadsWork(prefix: readonly string[], dir: string, expected: Map<string, CliResult>, shownAs = dir): void {
  for (const args of READS) {
    const r = run(prefix, [args[0]!, shownAs, ...args.slice(1)]);
    const want = expected.get(args.join(' '))!;
    expect(want.code, `${args.join(' ')} before`).toBeLessThan(2);
    expect(r.stderr, args.join(' ')).toBe('');
    expect(r.code, args.join(' ')).toBe(want.code);
    expect(r.stdout.split(shownAs).join('<ckpt>'), args.join(' ')).toBe(want.stdout.split(dir).join('<ckpt>'));
  }
}

function expectRunRefused(r: CliResult, dir: string, why: RegExp): void {
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^lineage: LINEAGE_READ_ONLY: [^\n]+\n$/);
  expect(r.stderr).toContain(dir);
  expect(r.stderr).toMatch(why);
  expect(r.stderr).not.toMatch(/\b(delete|remove|rm)\b/i);
  expect(r.code).toBe(1);
}

describe.skipIf(asUser === null)('a checkpoint this user may not write (chmod -R a-w)', () => {
  it('inspect, stats, plan and verify work and change nothing; a run is refused with LINEAGE_READ_ONLY naming the path', () => {
    const expected = readsOf(ckpt);
    execFileSync('chmod', ['-R', 'a-w', ckpt]);
    const before = snapshotTree(home);
    expectReadsWork(asUser!, ckpt, expected);
    const r = run(asUser!, ['run', EXAMPLE, '--checkpoint', ckpt], { LINEAGE_EXAMPLE_DIR: home });
    expectRunRefused(r, ckpt, /is not writable by this user/);
    // merge writes too: in place (beside and into the checkpoint) and --into a directory this user may not write.
    for (const args of [['merge', ckpt], ['merge', ckpt, '--into', join(home, 'merged')]]) expectRunRefused(run(asUser!, args), home, /is not writable by this user/);
    expect(snapshotTree(home)).toEqual(before);
  });

  it('the same without lock files (a copy that kept only data.mdb)', () => {
    const parent = tempDir('lineage-ro-copy-');
    chmodSync(parent, 0o755);
    const copy = join(parent, 'ckpt');
    execFileSync('cp', ['-a', ckpt, copy]);
    for (const w of readdirSync(join(copy, 'writers'))) rmSync(join(copy, 'writers', w, 'lock.mdb'), { force: true });
    const expected = readsOf(copy);
    execFileSync('chmod', ['-R', 'a-w', copy]);
    const before = snapshotTree(parent);
    expectReadsWork(asUser!, copy, expected);
    expect(snapshotTree(parent)).toEqual(before);
    execFileSync('chmod', ['-R', 'u+w', copy]);
  });
});

describe.skipIf(asUser === null)('another user reads a checkpoint a live run writes', () => {
  it('reads, and warns that without the lock file the view may be inconsistent', async () => {
    const parent = tempDir('lineage-ro-live-');
    chmodSync(parent, 0o755);
    const live = join(parent, 'ckpt');
    const child = spawn(process.execPath, [join(ROOT, 'test', 'children', 'record-live.mjs'), live], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((done) => child.on('exit', () => done()));
    try {
      await new Promise<void>((ready, fail) => {
        child.on('exit', (code) => fail(new Error(`the live writer exited early (${code})`)));
        createInterface({ input: child.stdout }).once('line', () => ready());
      });
      const r = run(asUser!, ['stats', live, '--json']);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`^lineage: warning: ${join(live, 'writers', 'main')} is being written by pid ${child.pid} [^\\n]*may be inconsistent[^\\n]*\\n$`));
      const own = lineage(['stats', live, '--json']); // the writer's own user registers as a reader: no warning
      expect(own.stderr).toBe('');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    // Nobody writes any more: no warning.
    expect(run(asUser!, ['stats', live]).stderr).toBe('');
  });
});

describe.skipIf(!canMount)('a checkpoint on a read-only mount', () => {
  it('inspect, stats, plan and verify work; a run is refused with LINEAGE_READ_ONLY naming the read-only filesystem', () => {
    const mnt = tempDir('lineage-ro-mnt-');
    // A private mount namespace: the bind mount vanishes with the process, whatever happens to the test.
    const inMount = ['unshare', '-m', 'sh', '-c', `mount --bind "${home}" "${mnt}" && mount -o remount,bind,ro "${mnt}" && exec "$@"`, 'sh'];
    const dir = join(mnt, 'ckpt');
    const expected = readsOf(ckpt);
    const before = snapshotTree(home);
    expectReadsWork(inMount, ckpt, expected, dir);
    const r = run(inMount, ['run', EXAMPLE, '--checkpoint', dir], { LINEAGE_EXAMPLE_DIR: mnt });
    expectRunRefused(r, dir, /is on a read-only filesystem/);
    expect(snapshotTree(home)).toEqual(before);
  });
});

describe('error texts', () => {
  it('no message in src/ advises deleting checkpoint data', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (/\.(ts|js)$/.test(e.name)) files.push(join(d, e.name));
      }
    };
    walk(join(ROOT, 'src'));
    expect(files.length).toBeGreaterThan(20);
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toMatch(/\b(delete|remove|rm -r?f?)\s+(this|the|that|its|your|affected)\b[^`'"\n]*\b(writer|checkpoint|shard|directory)/i);
      expect(text, f).not.toMatch(/start over by delet/i);
    }
  });

  it('the advice for a damaged shard keeps it and works: after the mv it names, the checkpoint reads again and the shard is intact aside', () => {
    const ckpt = buildSmall(join(tempDir(), 'ckpt'));
    const data = join(ckpt, 'writers', 'main', 'data.mdb');
    truncateSync(data, Math.floor(statSync(data).size / 2) + 100);
    const damaged = readFileSync(data);
    const r = lineage(['stats', ckpt]);
    expect(r.stderr).toMatch(/^lineage: LINEAGE_CORRUPT: /);
    const mv = /\(mv (\S+) (\S+)\)/.exec(r.stderr);
    expect(mv, r.stderr).not.toBeNull();
    expect(mv![1]).toBe(join(ckpt, 'writers', 'main'));
    expect(mv![2]!.startsWith(join(ckpt, 'writers'))).toBe(false);
    renameSync(mv![1]!, mv![2]!);
    expect(readFileSync(join(mv![2]!, 'data.mdb'))).toEqual(damaged);
    const after = lineage(['stats', ckpt]);
    expect(after.stderr).toBe('');
    expect(after.code).toBe(0);
    rmSync(mv![2]!, { recursive: true, force: true });
  });
});
