/**
 * @internal
 * Who is writing a shard. LMDB's own locks are per host, so a second host
 * opening the same shard for writing (over a shared filesystem) would not be
 * stopped by them. Each writer keeps `owner.json` in its shard directory with
 * its host, pid and a heartbeat; a live owner on another host makes a second
 * writer fail with LINEAGE_LOCKED. Same-host writers share safely (LMDB locks).
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';

export const OWNER_FILE = 'owner.json';
export const HEARTBEAT_MS = 10_000;
/** An owner silent for this long is taken to be dead. */
export const STALE_MS = 3 * HEARTBEAT_MS;

export interface OwnerRecord {
  readonly host: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly heartbeatAt: string;
}

export function readOwner(shardDir: string): OwnerRecord | null {
  try {
    return JSON.parse(readFileSync(join(shardDir, OWNER_FILE), 'utf8')) as OwnerRecord;
  } catch {
    return null;
  }
}

/** Throws LINEAGE_LOCKED when another host holds the shard with a fresh heartbeat. */
export function assertNotOwnedElsewhere(shardDir: string, writerId: string, now = Date.now()): void {
  const owner = readOwner(shardDir);
  if (!owner || owner.host === hostname()) return;
  const age = now - Date.parse(owner.heartbeatAt);
  if (!(age < STALE_MS)) return;
  throw new LineageError(
    ErrorCodes.LOCKED,
    `writer shard "${writerId}" at ${shardDir} is being written by pid ${owner.pid} on host ${owner.host} ` +
      `(heartbeat ${Math.round(age / 1000)} s ago). Give this worker its own writerId, or wait until that run ends ` +
      `(a dead owner is ignored after ${STALE_MS / 1000} s).`,
  );
}

/**
 * Throws LINEAGE_LOCKED when any writer holds the shard: a fresh heartbeat
 * from another host, or a live process on this one. For whole-checkpoint
 * rewrites (repair, invalidation) that must not run under a writer.
 */
export function assertNoLiveWriter(shardDir: string, writerId: string, action: string, now = Date.now()): void {
  const owner = readOwner(shardDir);
  if (!owner) return;
  const age = now - Date.parse(owner.heartbeatAt);
  if (!(age < STALE_MS)) return;
  if (owner.host === hostname() && !processAlive(owner.pid)) return;
  throw new LineageError(
    ErrorCodes.LOCKED,
    `writer shard "${writerId}" at ${shardDir} is being written by pid ${owner.pid} on host ${owner.host} ` +
      `(heartbeat ${Math.round(age / 1000)} s ago). ${action} rewrites state under every writer; stop that run first.`,
  );
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claims the shard and keeps the heartbeat fresh until `release()`. */
export class OwnerHeartbeat {
  private readonly timer: NodeJS.Timeout;
  private readonly startedAt = new Date().toISOString();

  constructor(private readonly shardDir: string) {
    this.beat();
    this.timer = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  release(): void {
    clearInterval(this.timer);
    const owner = readOwner(this.shardDir);
    if (owner && owner.host === hostname() && owner.pid === process.pid) rmSync(join(this.shardDir, OWNER_FILE), { force: true });
  }

  private beat(): void {
    const record: OwnerRecord = { host: hostname(), pid: process.pid, startedAt: this.startedAt, heartbeatAt: new Date().toISOString() };
    const file = join(this.shardDir, OWNER_FILE);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(record) + '\n');
      renameSync(tmp, file);
    } catch {
      // A missed heartbeat only makes the record look older; the next beat retries. A full disk must not keep the temp file.
      rmSync(tmp, { force: true });
    }
  }
}
