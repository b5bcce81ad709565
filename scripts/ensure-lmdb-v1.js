#!/usr/bin/env node
// lmdb-js 3 ships binaries for LMDB's data format 2, which Debian's mdb_stat and
// mdb_dump (LMDB 0.9) cannot read. DESIGN.md §3 requires that they can, so the
// install compiles lmdb-js's bundled LMDB 0.9 (data format 1) once, with the
// toolchain npm already uses for native addons. lmdb-js prefers build/Release.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const lmdbDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'lmdb');
const built = join(lmdbDir, 'build', 'Release', 'lmdb.node');

function formatOk() {
  try {
    const out = execFileSync(process.execPath, ['-e', "process.stdout.write(String(require('lmdb').version.major))"], {
      cwd: lmdbDir,
      encoding: 'utf8',
    });
    return out.trim() === '0';
  } catch {
    return false;
  }
}

if (existsSync(built) && formatOk()) process.exit(0);
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['npx', ['--yes', 'node-gyp', 'rebuild']];
console.error('lineage-dag: building lmdb with LMDB data format 1 (readable by mdb_stat/mdb_dump)...');
execFileSync(cmd, args, { cwd: lmdbDir, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LMDB_DATA_V1: 'true' } });
if (!formatOk()) {
  console.error('lineage-dag: lmdb was rebuilt but still does not report LMDB 0.9; see scripts/ensure-lmdb-v1.js');
  process.exit(1);
}
