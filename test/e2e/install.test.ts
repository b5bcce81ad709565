/**
 * lineage-dag installs like any npm library: into a project that already
 * uses `lmdb` for its own data, the packed tarball changes nothing of that
 * package (version, files, databases), with or without install scripts and
 * on a PATH with no compiler. Then a small checkpointed pipeline runs in the
 * project, `npx lineage plan` reads its checkpoint, and `require` loads the
 * package from CommonJS.
 *
 * Needs the npm registry (or npm's cache) for the project's own installs.
 */
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const ourLmdb = (JSON.parse(readFileSync(join(repo, 'node_modules', 'lmdb', 'package.json'), 'utf8')) as { version: string }).version;
let tarball = '';

function sh(cmd: string, args: string[], options: ExecFileSyncOptions = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options }) as string;
}

const npm = (cwd: string, args: string[], env: NodeJS.ProcessEnv = process.env) =>
  sh('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd, env, timeout: 240_000 });

/** The project's own use of lmdb: a database it writes, and what its lmdb says of itself. */
const OWN_DB = `
const { open } = require('lmdb');
const db = open({ path: 'own-data' });
if (process.argv[2] === 'write') db.putSync('greeting', { hello: 'world', n: 42 });
console.log(JSON.stringify({ version: require('lmdb').version, value: db.get('greeting') }));
`;

/** A small checkpointed pipeline, as an ESM program of the project. */
const PIPELINE = `
import { Pipeline } from 'lineage-dag';
const split = { id: 'split', process: (n) => [n, n + 1] };
const write = { id: 'write', process: (n) => ({ out: n * 2 }) };
const report = await new Pipeline([split, write]).run(
  ['a', 'b', 'c'].map((key, i) => ({ key, data: i * 10 })),
  { checkpoint: 'ckpt' },
);
console.log(JSON.stringify({ read: report.sources.read, calls: report.stages.map((s) => s.calls) }));
`;

function project(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lineage-install-${name}-`));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `app-${name}`, version: '1.0.0', private: true }));
  writeFileSync(join(dir, 'own-db.cjs'), OWN_DB);
  writeFileSync(join(dir, 'pipeline.mjs'), PIPELINE);
  writeFileSync(join(dir, 'sources.txt'), 'a\nb\nc\n');
  npm(dir, ['install', `lmdb@${ourLmdb}`]);
  return dir;
}

/** A PATH with node, npm and a shell (npx runs bins through sh) only: no python3, make, g++ or cc. */
function bareBin(): string {
  const bin = mkdtempSync(join(tmpdir(), 'lineage-bare-bin-'));
  for (const tool of ['node', 'npm', 'npx', 'sh']) symlinkSync(sh('sh', ['-c', `command -v ${tool}`]).trim(), join(bin, tool));
  return bin;
}

function checkInstall(dir: string, env: NodeJS.ProcessEnv): void {
  const before = JSON.parse(sh('node', ['own-db.cjs', 'write'], { cwd: dir })) as { version: object; value: unknown };
  npm(dir, ['install', tarball], env);
  const after = JSON.parse(sh('node', ['own-db.cjs'], { cwd: dir })) as { version: object; value: unknown };
  expect(after.version).toEqual(before.version);
  expect(after.value).toEqual({ hello: 'world', n: 42 });
  // The project's lmdb is the published package: nothing built or added beside its prebuilt binaries.
  const lmdbDir = join(dir, 'node_modules', 'lmdb');
  expect(() => readFileSync(join(lmdbDir, 'build', 'Release', 'lmdb.node'))).toThrow();

  const ran = JSON.parse(sh('node', ['pipeline.mjs'], { cwd: dir, env })) as { read: number; calls: number[] };
  expect(ran).toEqual({ read: 3, calls: [3, 6] });
  const plan = JSON.parse(sh('npx', ['--no-install', 'lineage', 'plan', 'ckpt', '--sources', 'sources.txt', '--json'], { cwd: dir, env })) as {
    sources: { sourceKey: string; verdict: string }[];
  };
  expect(plan.sources.map((s) => [s.sourceKey, s.verdict])).toEqual([
    ['a', 'skip'],
    ['b', 'skip'],
    ['c', 'skip'],
  ]);
  // The project's database is still whole after lineage-dag used lmdb in it.
  expect((JSON.parse(sh('node', ['own-db.cjs'], { cwd: dir })) as { value: unknown }).value).toEqual({ hello: 'world', n: 42 });
}

describe('installing the packed package into a project that uses lmdb', () => {
  beforeAll(() => {
    sh('npm', ['run', 'build', '--silent'], { cwd: repo });
    const out = mkdtempSync(join(tmpdir(), 'lineage-pack-'));
    const name = sh('npm', ['pack', '--silent', '--pack-destination', out], { cwd: repo }).trim().split('\n').pop()!;
    tarball = join(out, name);
  }, 240_000);

  it('as usual: the project keeps its lmdb and its data; a checkpointed pipeline and `npx lineage plan` work', () => {
    checkInstall(project('plain'), process.env);
  }, 300_000);

  it('with --ignore-scripts', () => {
    const dir = project('noscripts');
    checkInstall(dir, { ...process.env, npm_config_ignore_scripts: 'true' });
  }, 300_000);

  it('with a PATH that has node and npm but no python3, make or g++', () => {
    const dir = project('nocc');
    const env = { ...process.env, PATH: bareBin() };
    for (const tool of ['python3', 'make', 'g++', 'cc']) expect(() => sh('sh', ['-c', `command -v ${tool}`], { env })).toThrow();
    checkInstall(dir, env);
  }, 300_000);

  it('the tarball holds no install script and no native code', () => {
    const listing = sh('tar', ['-tzf', tarball]);
    expect(listing).not.toMatch(/\.(cpp|cc|c|gyp|node)\n/);
    expect(listing).not.toMatch(/scripts\//);
    const pkg = JSON.parse(sh('tar', ['-xzOf', tarball, 'package/package.json'])) as { scripts?: Record<string, string> };
    expect(Object.keys(pkg.scripts ?? {}).filter((name) => /install/.test(name))).toEqual([]);
  });

  it('require() loads it from CommonJS on the Node versions package.json names', () => {
    const dir = project('cjs');
    npm(dir, ['install', tarball]);
    const script = "const l = require('lineage-dag'); console.log(typeof l.Pipeline, typeof l.LineageStore, l.rootLineage('part-0000.jsonl').udid)";
    const out = sh('node', ['-e', script], { cwd: dir });
    expect(out.trim()).toBe('function function 07498d2ca42096b4f540a4673023a199');
    const engines = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe('>=20.19');
  }, 300_000);
});
