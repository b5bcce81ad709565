#!/usr/bin/env node
// lmdb-js 3 ships binaries for LMDB's data format 2, which Debian's mdb_stat and
// mdb_dump (LMDB 0.9) cannot read. DESIGN.md §3 requires that they can, so the
// install compiles lmdb-js's bundled LMDB 0.9 (data format 1) once, with the
// toolchain npm already uses for native addons. lmdb-js prefers build/Release.
//
// One change to lmdb-js's source goes with that build. lmdb-js shares one LMDB
// environment per file between the threads of a process, but it registers an
// environment for sharing from a callback that only LMDB 1.0 has. Built against
// LMDB 0.9, every open() is a separate environment: a second open of the same
// file in one process breaks LMDB's locking (the recorder's write thread opens
// its shard too) and close() never unmaps anything. The patch registers
// environments by file in openEnv, so sharing and close work as in the stock build.
//
// The second change adds two methods (scripts/lmdb-put-rows.cpp): env.putRows,
// with which the write thread puts each section of a batch with one call
// instead of one lmdb-js call per row (that cost about as much again as LMDB's
// own work), and env.releaseMap, which unmaps the data file's pages that LMDB
// read while writing, so they do not pile up in the writer's resident set.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Where npm put lmdb: beside this package when it is a dependency (hoisted), or in its own node_modules.
const lmdbDir = (createRequire(import.meta.url).resolve.paths('lmdb') ?? [])
  .map((modules) => join(modules, 'lmdb'))
  .find((dir) => existsSync(join(dir, 'package.json')));
if (lmdbDir === undefined) {
  console.error('lineage-dag: the lmdb package is not installed beside lineage-dag; see scripts/ensure-lmdb-v1.js');
  process.exit(1);
}
const built = join(lmdbDir, 'build', 'Release', 'lmdb.node');
const envSource = join(lmdbDir, 'src', 'env.cpp');
const header = join(lmdbDir, 'src', 'lmdb-js.h');
const putRowsSource = join(dirname(fileURLToPath(import.meta.url)), 'lmdb-put-rows.cpp');
/** Written next to the binary once it is built from the patched source; its name changes with the methods' code. */
const methodsHash = createHash('sha256').update(readFileSync(putRowsSource)).digest('hex').slice(0, 12);
const marker = join(lmdbDir, 'build', 'Release', `lineage-dag-v1-shared-env-${methodsHash}`);

const ANCHOR = '\trc = mdb_env_open(env, path, flags, permissionsMode);\n';
const PATCHED = '// lineage-dag: share environments by file';
const REPLACEMENT = `#ifndef MDB_OVERLAPPINGSYNC
	${PATCHED} (LMDB 0.9 has no open callback, see scripts/ensure-lmdb-v1.js)
	{
		struct stat sb;
		std::string dataPath = (flags & MDB_NOSUBDIR) ? std::string(path) : std::string(path) + "/data.mdb";
		foundEnv = nullptr;
		if (::stat(dataPath.c_str(), &sb) == 0) {
			for (auto envRef = envTracking->envs.begin(); envRef != envTracking->envs.end(); ++envRef) {
				if (envRef->dev == (uint64_t) sb.st_dev && envRef->inode == (uint64_t) sb.st_ino) {
					envRef->count++;
					foundEnv = envRef->env;
					break;
				}
			}
		}
		if (foundEnv) rc = EXISTING_ENV_FOUND;
		else {
			rc = mdb_env_open(env, path, flags, permissionsMode);
			if (rc == 0 && ::stat(dataPath.c_str(), &sb) == 0) {
				SharedEnv envRef;
				envRef.dev = sb.st_dev;
				envRef.inode = sb.st_ino;
				envRef.env = env;
				envRef.count = 1;
				envRef.hasWrites = false;
				envTracking->envs.push_back(envRef);
			}
		}
	}
#else
${ANCHOR}#endif
`;

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

/**
 * Replaces `anchor` (which must occur exactly once) in `file` with
 * `replacement`, unless `done` (a text only the patched file has) is there.
 */
function patch(file, anchor, replacement, done) {
  const source = readFileSync(file, 'utf8');
  if (source.includes(done)) return;
  const at = source.indexOf(anchor);
  if (at < 0 || source.indexOf(anchor, at + 1) >= 0) {
    console.error(`lineage-dag: ${file} is not the lmdb-js source these patches were written for (package-lock.json pins it); see scripts/ensure-lmdb-v1.js`);
    process.exit(1);
  }
  writeFileSync(file, source.slice(0, at) + replacement + source.slice(at + anchor.length));
}

/**
 * Puts `text` between two marker lines named `name` in `file`: where they
 * already are (an earlier version of the text, replaced whole), else before
 * `anchor`, which must occur exactly once.
 */
function region(file, name, anchor, text) {
  const begin = `// lineage-dag ${name}: begin\n`;
  const end = `// lineage-dag ${name}: end\n`;
  const source = readFileSync(file, 'utf8');
  const from = source.indexOf(begin);
  if (from >= 0) {
    writeFileSync(file, source.slice(0, from) + begin + text + end + source.slice(source.indexOf(end, from) + end.length));
  } else patch(file, anchor, `${begin}${text}${end}${anchor}`, begin);
}

function patchSource() {
  patch(envSource, ANCHOR, REPLACEMENT, PATCHED);
  // The methods are what lmdb-put-rows.cpp defines: declared in the class, listed in its JavaScript class, defined in env.cpp.
  const body = readFileSync(putRowsSource, 'utf8');
  const names = [...body.matchAll(/^Napi::Value EnvWrap::(\w+)\(const Napi::CallbackInfo& info\) \{$/gm)].map((m) => m[1]);
  region(header, 'declarations', '\tNapi::Value getWriteTxnId(const CallbackInfo& info);\n', names.map((n) => `\tNapi::Value ${n}(const CallbackInfo& info);\n`).join(''));
  region(envSource, 'method list', '\t\tEnvWrap::InstanceMethod("getWriteTxnId", &EnvWrap::getWriteTxnId),\n', names.map((n) => `\t\tEnvWrap::InstanceMethod("${n}", &EnvWrap::${n}),\n`).join(''));
  region(envSource, 'methods', 'void EnvWrap::setupExports(', body);
}

if (existsSync(built) && existsSync(marker) && formatOk()) process.exit(0);
patchSource();
// A marker of other methods' code no longer describes the binary about to be built.
const releaseDir = dirname(built);
if (existsSync(releaseDir)) for (const name of readdirSync(releaseDir)) if (name.startsWith('lineage-dag-')) rmSync(join(releaseDir, name));
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['npx', ['--yes', 'node-gyp', 'rebuild']];
console.error('lineage-dag: building lmdb with LMDB data format 1 (readable by mdb_stat/mdb_dump)...');
execFileSync(cmd, args, { cwd: lmdbDir, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LMDB_DATA_V1: 'true' } });
if (!formatOk()) {
  console.error('lineage-dag: lmdb was rebuilt but still does not report LMDB 0.9; see scripts/ensure-lmdb-v1.js');
  process.exit(1);
}
writeFileSync(marker, 'lmdb-js built for LMDB data format 1, environments shared by file, with env.putRows and env.releaseMap\n');
