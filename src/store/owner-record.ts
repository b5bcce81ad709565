/**
 * @internal
 * Who is writing a shard. One writer id is held by one live process at a time
 * (docs/design.md §7): LMDB's own locks would let two processes of one host write
 * the same environment, and two runs interleaving their id blocks and
 * completion counts record partial work as complete. Each writer claims
 * `owner.json` in its shard directory (host, pid, the pid's start time, a
 * heartbeat); a second writer fails with LINEAGE_LOCKED while the claim is
 * live, and takes over a stale one.
 *
 * The claim is atomic: `link()` of a fully written temp file onto
 * `owner.json` fails when the name exists, so of two processes starting at
 * the same instant exactly one wins. Taking over a stale claim goes through
 * `owner.takeover`, created exclusively, so two processes that both find the
 * same dead owner cannot both replace it.
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { currentBootId, currentPidNamespace, processStartTime, sameHostProcessAlive } from './process-identity.js';
import { notWritable, notWritableCode } from './write-access.js';

export const OWNER_FILE = 'owner.json';
const TAKEOVER_FILE = 'owner.takeover';
export const HEARTBEAT_MS = 10_000;
/** An owner on another host silent for this long is taken to be dead. */
export const STALE_MS = 3 * HEARTBEAT_MS;
/** How long a claimant waits for another process's takeover of a stale claim to finish. */
const TAKEOVER_WAIT_MS = 5_000;
/** A takeover file still unreadable after this long was left by a process that died creating it. */
const TAKEOVER_ABANDONED_MS = 2_000;

export interface OwnerRecord {
  readonly host: string;
  readonly pid: number;
  /** When the claim was made (ISO time). */
  readonly startedAt: string;
  readonly heartbeatAt: string;
  /** The pid's start time in clock ticks since boot (/proc/<pid>/stat), so a reused pid is not taken for the owner. */
  readonly pidStart?: number;
  /** /proc/sys/kernel/random/boot_id: pids and start times mean nothing after a reboot. */
  readonly bootId?: string;
  /** The pid namespace the pid belongs to (/proc/self/ns/pid): a container sharing the directory has its own. */
  readonly pidNs?: string;
  /**
   * The process that writes, when it is not `pid`: the `lineage` command runs
   * its LMDB work in a child process (cli/isolate.ts), and `pid` is the
   * command's, the one a user sees. Either alive holds the claim.
   */
  readonly writerPid?: number;
  readonly writerPidStart?: number;
}

/** Set by the `lineage` command in its child's environment: the command's own pid. */
export const COMMAND_PID_ENV = 'LINEAGE_COMMAND_PID';

export function readOwner(shardDir: string): OwnerRecord | null {
  const text = readOwnerText(shardDir);
  return text === null ? null : parseOwner(text);
}

function readOwnerText(shardDir: string): string | null {
  try {
    return readFileSync(join(shardDir, OWNER_FILE), 'utf8');
  } catch {
    return null;
  }
}

/** True while the recorded owner may still be writing: a live process on this host, or a fresh heartbeat from another. */
export function ownerLive(owner: OwnerRecord, now = Date.now()): boolean {
  const fresh = now - Date.parse(owner.heartbeatAt) < STALE_MS;
  if (owner.host !== hostname()) return fresh;
  // Another pid namespace (a container with the same host name): its pid cannot be checked from here, its heartbeat can.
  const ns = currentPidNamespace();
  if (owner.pidNs !== undefined && ns !== null && owner.pidNs !== ns) return fresh;
  if (sameHostProcessAlive(owner.pid, owner.pidStart, owner.bootId)) return true;
  return owner.writerPid !== undefined && sameHostProcessAlive(owner.writerPid, owner.writerPidStart, owner.bootId);
}

function lockedError(shardDir: string, writerId: string, owner: OwnerRecord, what: string, now: number): LineageError {
  const age = Math.max(0, Math.round((now - Date.parse(owner.heartbeatAt)) / 1000));
  return new LineageError(
    ErrorCodes.LOCKED,
    `writer shard "${writerId}" at ${shardDir} is being written by pid ${owner.pid} on host ${owner.host} since ${owner.startedAt} ` +
      `(heartbeat ${age} s ago). ${what}`,
  );
}

/**
 * Throws LINEAGE_LOCKED when any writer holds the shard: a fresh heartbeat
 * from another host, or a live process on this one. For whole-checkpoint
 * rewrites (repair, invalidation, merge) that must not run under a writer.
 */
export function assertNoLiveWriter(shardDir: string, writerId: string, action: string, now = Date.now()): void {
  const owner = readOwner(shardDir);
  if (!owner || !ownerLive(owner, now)) return;
  throw lockedError(shardDir, writerId, owner, `${action} rewrites state under every writer; stop that run first.`, now);
}

/**
 * Claims the shard for this process, or throws LINEAGE_LOCKED naming the
 * live owner. A stale claim (its process gone) is taken over. Returns the
 * heartbeat that keeps the claim fresh until `release()`.
 */
export function claimShard(shardDir: string, writerId: string): OwnerHeartbeat {
  const refuse = (owner: OwnerRecord) =>
    lockedError(
      shardDir,
      writerId,
      owner,
      'One writer id is written by one process at a time: give this run its own writerId, or wait until that run ends ' +
        `(a dead owner on this host is taken over at once, one on another host after ${STALE_MS / 1000} s without a heartbeat).`,
      Date.now(),
    );
  const heartbeat = new OwnerHeartbeat(shardDir);
  const file = join(shardDir, OWNER_FILE);
  const deadline = Date.now() + TAKEOVER_WAIT_MS;
  for (;;) {
    let tmp: string;
    try {
      tmp = heartbeat.writeTemp();
    } catch (err) {
      // A full disk may have left the claim half written: it must not stay.
      rmSync(join(shardDir, `${OWNER_FILE}.${process.pid}.tmp`), { force: true });
      const denied = notWritableCode(err);
      if (denied !== null) throw notWritable(dirname(dirname(shardDir)), shardDir, denied, err);
      throw err;
    }
    try {
      linkSync(tmp, file);
      heartbeat.start();
      return heartbeat;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
    const text = readOwnerText(shardDir);
    if (text === null) continue; // released between our link and our read: try again
    const owner = parseOwner(text);
    if (owner && ownerLive(owner)) throw refuse(owner);
    // Stale (or unreadable: a claim is always written whole before it is linked, so garbage is no live writer's).
    const taken = takeOver(shardDir, text);
    if (taken === 'busy') {
      if (Date.now() > deadline) {
        throw new LineageError(
          ErrorCodes.LOCKED,
          `writer shard "${writerId}" at ${shardDir}: another process has been taking over its stale owner claim for ${TAKEOVER_WAIT_MS / 1000} s ` +
            `(${join(shardDir, TAKEOVER_FILE)}). Run again in a moment; if it stays, check which process holds that file.`,
        );
      }
      sleepMs(20);
    }
  }
}

function parseOwner(text: string): OwnerRecord | null {
  try {
    const value = JSON.parse(text) as OwnerRecord;
    return value && typeof value === 'object' && typeof value.pid === 'number' && typeof value.host === 'string' ? value : null;
  } catch {
    return null;
  }
}

/**
 * Removes the stale claim whose text is `staleText`, under the exclusive
 * takeover file, so that a claim another process made meanwhile is never
 * removed. 'busy': someone else is taking over right now.
 */
function takeOver(shardDir: string, staleText: string): 'removed' | 'busy' {
  const lock = join(shardDir, TAKEOVER_FILE);
  let fd: number;
  try {
    fd = openSync(lock, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    clearDeadTakeover(lock);
    return 'busy';
  }
  try {
    writeSync(fd, JSON.stringify({ pid: process.pid, pidStart: processStartTime(process.pid) }));
    closeSync(fd);
    if (readOwnerText(shardDir) === staleText) rmSync(join(shardDir, OWNER_FILE), { force: true });
    return 'removed';
  } finally {
    rmSync(lock, { force: true });
  }
}

/** A takeover file whose process died mid-takeover would block every later claim: remove it. */
function clearDeadTakeover(lock: string): void {
  let holder: { pid?: unknown; pidStart?: unknown };
  try {
    holder = JSON.parse(readFileSync(lock, 'utf8')) as typeof holder;
  } catch {
    // Being written right now, or just removed; unreadable for seconds: its writer died between creating and writing it.
    const age = ageMs(lock);
    if (age !== null && age > TAKEOVER_ABANDONED_MS) rmSync(lock, { force: true });
    return;
  }
  if (typeof holder.pid !== 'number') return;
  if (!sameHostProcessAlive(holder.pid, typeof holder.pidStart === 'number' ? holder.pidStart : undefined, undefined)) rmSync(lock, { force: true });
}

function ageMs(file: string): number | null {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Keeps this process's claim fresh until `release()`. Made by claimShard. */
export class OwnerHeartbeat {
  private timer: NodeJS.Timeout | null = null;
  private readonly record: Omit<OwnerRecord, 'heartbeatAt'>;

  constructor(private readonly shardDir: string) {
    this.record = { host: hostname(), startedAt: new Date().toISOString(), ...processIdentity() };
  }

  /** @internal A fully written claim file beside owner.json, to link or rename into place. */
  writeTemp(): string {
    const tmp = join(this.shardDir, `${OWNER_FILE}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify({ ...this.record, heartbeatAt: new Date().toISOString() }) + '\n');
    return tmp;
  }

  /** @internal */
  start(): void {
    this.timer = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  release(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.ours()) rmSync(join(this.shardDir, OWNER_FILE), { force: true });
  }

  private ours(): boolean {
    const owner = readOwner(this.shardDir);
    return owner !== null && owner.host === this.record.host && owner.pid === this.record.pid && owner.startedAt === this.record.startedAt;
  }

  private beat(): void {
    // A claim taken over (this host looked dead to another) is not written back over the new owner's.
    if (!this.ours()) return;
    try {
      renameSync(this.writeTemp(), join(this.shardDir, OWNER_FILE));
    } catch {
      // A missed heartbeat only makes the record look older; the next beat retries. A full disk must not keep the temp file.
      rmSync(join(this.shardDir, `${OWNER_FILE}.${process.pid}.tmp`), { force: true });
    }
  }
}

function processIdentity(): { pid: number; pidStart?: number; bootId?: string; pidNs?: string; writerPid?: number; writerPidStart?: number } {
  const bootId = currentBootId();
  const pidNs = currentPidNamespace();
  const common = { ...(bootId !== null ? { bootId } : {}), ...(pidNs !== null ? { pidNs } : {}) };
  const own = processStartTime(process.pid);
  // Trusted only from the command's own child: a process further down inherits the variable, but not that parent.
  const command = Number(process.env[COMMAND_PID_ENV]);
  if (Number.isInteger(command) && command > 0 && command === process.ppid) {
    const start = processStartTime(command);
    return { pid: command, ...(start !== undefined ? { pidStart: start } : {}), writerPid: process.pid, ...(own !== undefined ? { writerPidStart: own } : {}), ...common };
  }
  return { pid: process.pid, ...(own !== undefined ? { pidStart: own } : {}), ...common };
}
