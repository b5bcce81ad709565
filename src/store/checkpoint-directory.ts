/**
 * @internal
 * The checkpoint directory around the shards' LMDB environments: what a
 * path holds (missing, a file, a foreign directory, a checkpoint), creating
 * a new checkpoint, listing the writer shards, and the checks on their data
 * files that run before anything is mapped or written.
 */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { checkLmdbFile, moveAsideHint } from './lmdb-header.js';
import { MANIFEST_FILE, MANIFEST_TEMP, createManifest, newManifest, readManifest, type Manifest } from './manifest.js';
import { ownerLive, readOwner } from './owner-record.js';

export const WRITERS_DIR = 'writers';

/**
 * Checks every existing data file of the shards before a writer creates its
 * own: a damaged checkpoint stays as it was. An empty data.mdb is damage
 * unless a live writer is creating it.
 */
export function checkShardFiles(dir: string, shardIds: readonly string[]): void {
  for (const id of shardIds) {
    const shardDir = join(dir, WRITERS_DIR, id);
    const size = dataSize(shardDir);
    if (size > 0) checkLmdbFile(join(shardDir, 'data.mdb'));
    else if (size === 0 && !startingWriter(shardDir)) throw emptyDataFile(shardDir);
  }
}

/**
 * Touches the checkpoint through the async fs API, which a timer can outrun:
 * a hung network mount fails here with LINEAGE_TIMEOUT instead of blocking
 * the synchronous LMDB open forever.
 */
export async function probe(dir: string, timeoutMs: number): Promise<void> {
  const touch = async () => {
    const st = await stat(dir).catch(() => null);
    if (!st?.isDirectory()) return;
    const entries = await readdir(dir);
    if (entries.includes(MANIFEST_FILE)) await readFile(join(dir, MANIFEST_FILE));
    if (entries.includes(WRITERS_DIR)) await readdir(join(dir, WRITERS_DIR));
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new LineageError(
            ErrorCodes.TIMEOUT,
            `${dir} did not answer within ${timeoutMs} ms. Its filesystem may be a network mount that is down or overloaded; ` +
              'check the mount, or raise the limit with timeoutMs / LINEAGE_OPEN_TIMEOUT_MS.',
          ),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([touch(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Checks what `dir` holds; creates a new checkpoint there when allowed. */
export function prepareDirectory(dir: string, create: boolean, mode: Manifest['mode']): Manifest {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    if (!create) {
      throw new LineageError(ErrorCodes.NOT_A_CHECKPOINT, `${dir} does not exist. Check the path, or run a pipeline with --checkpoint ${dir} first.`);
    }
    mkdirSync(dir, { recursive: true });
    isDir = true;
  }
  if (!isDir) {
    throw new LineageError(ErrorCodes.NOT_A_CHECKPOINT, `${dir} is a file, not a checkpoint directory. Point at the directory the run wrote.`);
  }
  const entries = readdirSync(dir);
  if (!entries.includes(MANIFEST_FILE)) {
    if (!create) {
      const what = entries.length === 0 ? 'is empty' : `holds no ${MANIFEST_FILE}`;
      throw new LineageError(ErrorCodes.NOT_A_CHECKPOINT, `${dir} ${what}: it is not a lineage checkpoint. Point at the directory a pipeline run wrote.`);
    }
    // Another worker may be creating this checkpoint right now: its temp manifest and shards are fine.
    const foreign = entries.filter((e) => e !== WRITERS_DIR && !MANIFEST_TEMP.test(e));
    if (foreign.length > 0) {
      throw new LineageError(
        ErrorCodes.NOT_A_CHECKPOINT,
        `${dir} is not empty (${foreign.slice(0, 3).join(', ')}) and holds no ${MANIFEST_FILE}; refusing to create a checkpoint among other files. Use an empty or new directory.`,
      );
    }
    createManifest(dir, newManifest(mode));
  }
  return readManifest(dir);
}

export function listShards(dir: string): string[] {
  try {
    return readdirSync(join(dir, WRITERS_DIR), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

export function hasData(shardDir: string): boolean {
  return dataSize(shardDir) > 0;
}

/** The size of a shard's data.mdb; -1 when there is none. */
function dataSize(shardDir: string): number {
  try {
    return statSync(join(shardDir, 'data.mdb')).size;
  } catch {
    return -1;
  }
}

/**
 * True while a live writer holds the shard: its data.mdb may be empty for a
 * moment, between LMDB creating the file and writing its first pages (a
 * writer claims the shard before it opens LMDB).
 */
function startingWriter(shardDir: string): boolean {
  const owner = readOwner(shardDir);
  return owner !== null && ownerLive(owner);
}

/**
 * LMDB opens a read-only environment without its lock file when it may not
 * write it (a read-only mount, another user's checkpoint), and such a reader
 * is invisible to writers, which may then reuse the pages of its snapshot.
 * Harmless while nobody writes; a warning text when a live writer holds the
 * shard, else null.
 */
export function unlockedReadWarning(shardDir: string): string | null {
  const lock = join(shardDir, 'lock.mdb');
  try {
    accessSync(existsSync(lock) ? lock : shardDir, constants.W_OK);
    return null;
  } catch {
    // Not writable here: LMDB reads without registering.
  }
  const owner = readOwner(shardDir);
  if (owner === null || !ownerLive(owner)) return null;
  return (
    `${shardDir} is being written by pid ${owner.pid} on host ${owner.host}, and this user may not write its lock file, so LMDB reads it ` +
    'without registering as a reader: the writer may reuse pages this command is reading, and the result may be inconsistent. ' +
    'Read it as the user that writes it, or after the run ends.'
  );
}

function emptyDataFile(shardDir: string): LineageError {
  const file = join(shardDir, 'data.mdb');
  return new LineageError(
    ErrorCodes.CORRUPT,
    `${file} is empty (0 bytes) and no live writer holds the shard: it is not an LMDB environment, and holds no recorded work ` +
      `(a writer killed while creating it, or a copy that lost it). Nothing was changed. Restore it from a backup, or move the directory out of the ` +
      `checkpoint (${moveAsideHint(shardDir, 'empty')}) so that its writer starts it again.`,
  );
}
