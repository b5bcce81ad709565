/**
 * @internal
 * Whether a process recorded earlier (by pid) is still the same live process:
 * `kill(pid, 0)` says a pid exists, but pids are reused, so where procfs is
 * available the pid's start time (clock ticks since boot, field 22 of
 * /proc/<pid>/stat) and the boot id must match what was recorded too.
 */
import { readFileSync, readlinkSync } from 'node:fs';

/** The start time of `pid` in clock ticks since boot, or undefined without procfs. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]);
  return Number.isSafeInteger(ticks) ? ticks : undefined;
}

let bootIdCache: string | null | undefined;
let pidNamespaceCache: string | null | undefined;

/**
 * This process's pid namespace ("pid:[4026531836]"), or null without procfs.
 * Containers on one host share the kernel (and its boot id) but not their
 * pids: a pid recorded in another namespace says nothing here.
 */
export function currentPidNamespace(): string | null {
  if (pidNamespaceCache === undefined) {
    try {
      pidNamespaceCache = readlinkSync('/proc/self/ns/pid') || null;
    } catch {
      pidNamespaceCache = null;
    }
  }
  return pidNamespaceCache;
}

/** This boot's id, or null without procfs. */
export function currentBootId(): string | null {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      bootIdCache = null;
    }
  }
  return bootIdCache;
}

/**
 * True when the process `pid` of this host, started at `pidStart` (when
 * known) in boot `bootId` (when known), is still running.
 */
export function sameHostProcessAlive(pid: number, pidStart: number | undefined, bootId: string | undefined): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  const boot = currentBootId();
  if (bootId !== undefined && boot !== null && bootId !== boot) return false;
  if (pid !== process.pid) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
    }
  }
  if (pidStart === undefined) return true;
  const now = processStartTime(pid);
  return now === undefined || now === pidStart;
}
