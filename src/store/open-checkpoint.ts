/**
 * @internal
 * Opening a checkpoint (docs/design.md §3, §7): the options are checked, the
 * directory is prepared, a writer claims and opens its own shard first, then
 * every other shard with data is opened read-only. LineageStore.open builds
 * its facade on what this returns.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { WRITERS_DIR, checkShardFiles, hasData, listShards, prepareDirectory, probe, unlockedReadWarning } from './checkpoint-directory.js';
import type { Manifest } from './manifest.js';
import { recoverInterruptedMerge, removeDeadMergeDirs } from './merge-leftovers.js';
import { networkFsWarning } from './mount-check.js';
import { claimShard, type OwnerHeartbeat } from './owner-record.js';
import { Shard } from './shard.js';
import type { OpenOptions } from './types.js';
import { assertWritable } from './write-access.js';
import { nearlyFull } from './write-failure.js';

/** What an open checkpoint is made of: every shard, the writer's own first when writable. */
export interface OpenedCheckpoint {
  readonly path: string;
  readonly manifest: Manifest;
  readonly shards: readonly Shard[];
  readonly writerId: string | null;
  readonly heartbeat: OwnerHeartbeat | null;
}

const WRITER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export async function openCheckpoint(dir: string, options: OpenOptions): Promise<OpenedCheckpoint> {
  const path = resolve(dir);
  const readOnly = options.readOnly ?? false;
  const writerId = readOnly ? null : checkWriterId(options.writerId ?? process.env.LINEAGE_WRITER_ID ?? 'main');
  const mapSize = mapSizeOf(options);
  await probe(path, timeoutOf(options));
  const warn = (message: string, code: string) => (options.onWarning ?? ((m: string) => process.emitWarning(m, { code })))(message);
  const warning = networkFsWarning(path);
  if (warning) warn(warning, 'LINEAGE_NETWORK_FS');
  if (writerId !== null) assertWritable(path, join(path, WRITERS_DIR, writerId));
  const manifest = prepareDirectory(path, !readOnly && (options.create ?? true), options.mode ?? 'dag');
  if (options.mode !== undefined && options.mode !== manifest.mode) {
    throw new LineageError(
      ErrorCodes.MODE_MISMATCH,
      `${path} is a "${manifest.mode}" checkpoint, but mode "${options.mode}" was asked for. Use a new checkpoint directory for another mode.`,
    );
  }
  recoverInterruptedMerge(path);
  // A writer may change the directory around the checkpoint; a reader leaves everything as it is.
  if (writerId !== null) removeDeadMergeDirs(path);
  const shardIds = listShards(path);
  checkShardFiles(path, shardIds);
  const shards: Shard[] = [];
  let heartbeat: OwnerHeartbeat | null = null;
  try {
    if (writerId !== null) {
      const own = join(path, WRITERS_DIR, writerId);
      mkdirSync(own, { recursive: true });
      assertRoomToWrite(own);
      // Claimed before LMDB opens: a second process never opens a shard another live one writes.
      heartbeat = claimShard(own, writerId);
      shards.push(Shard.open(own, writerId, false, mapSize));
    }
    for (const id of shardIds) {
      if (id === writerId) continue;
      const shardDir = join(path, WRITERS_DIR, id);
      if (!hasData(shardDir)) continue;
      const unlocked = unlockedReadWarning(shardDir);
      if (unlocked) warn(unlocked, 'LINEAGE_UNLOCKED_READ');
      const shard = Shard.open(shardDir, id, true);
      // A writer that is just starting has not created its sub-DBs: nothing to read yet.
      if (shard.initialized) shards.push(shard);
      else await shard.close();
    }
  } catch (err) {
    heartbeat?.release();
    await Promise.all(shards.map((s) => s.close()));
    throw err;
  }
  return { path, manifest, shards, writerId, heartbeat };
}

/** Throws LINEAGE_INVALID_ARGUMENT unless `id` is a usable writer id. */
export function checkWriterId(id: string): string {
  if (typeof id !== 'string' || !WRITER_ID_RE.test(id)) {
    throw new LineageError(
      ErrorCodes.INVALID_ARGUMENT,
      `writerId ${JSON.stringify(id)} is not valid: use 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit, ` +
        'and keep it stable across retries (for example the array task index), never a pid.',
    );
  }
  return id;
}

function mapSizeOf(options: OpenOptions): number | undefined {
  const raw = options.mapSize ?? (process.env.LINEAGE_MAP_SIZE ? Number(process.env.LINEAGE_MAP_SIZE) : undefined);
  if (raw === undefined) return undefined;
  if (!Number.isSafeInteger(raw) || raw < 2 ** 26) {
    throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `mapSize ${raw} is not valid: give a byte count of at least 64 MiB (e.g. 68719476736 for 64 GiB).`);
  }
  return raw;
}

function timeoutOf(options: OpenOptions): number {
  const raw = options.timeoutMs ?? (process.env.LINEAGE_OPEN_TIMEOUT_MS ? Number(process.env.LINEAGE_OPEN_TIMEOUT_MS) : 30_000);
  if (!(raw > 0)) throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `timeoutMs ${raw} is not valid: give a positive number of milliseconds.`);
  return raw;
}

/**
 * A writer needs a little room before LMDB maps its lock file: on a full
 * filesystem the first touch of a page of a new lock file kills the process
 * with SIGBUS instead of failing a call, so the run is refused here.
 */
function assertRoomToWrite(shardDir: string): void {
  if (!nearlyFull(shardDir)) return;
  throw new LineageError(
    ErrorCodes.DISK_FULL,
    `${shardDir}: the checkpoint's filesystem is full (less than 1 MiB free), so the run cannot record anything; nothing was changed. ` +
      'Free space on that filesystem, then rerun: completed work is skipped.',
  );
}
