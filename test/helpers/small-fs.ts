// A real, small filesystem for disk-full tests: a tmpfs of a given size mounted on a temp directory
// (needs root, or CAP_SYS_ADMIN). Where mounting is not permitted the tests that need it are skipped,
// saying so.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp-dir.js';

export interface SmallFs {
  readonly dir: string;
  unmount(): void;
}

/** Mounts a tmpfs of `bytes` on a fresh directory; null (with the reason in `whyNot`) when not permitted. */
export function mountSmallFs(bytes: number): SmallFs | null {
  const dir = join(tempDir('lineage-smallfs-'), 'fs');
  mkdirSync(dir);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    whyNot = `mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}`;
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return {
    dir,
    unmount: () => {
      spawnSync('umount', [dir]);
    },
  };
}

export let whyNot = '';

/** True when this process may mount a tmpfs (probed once). */
export function canMountSmallFs(): boolean {
  const probe = mountSmallFs(1 << 20);
  if (!probe) {
    console.warn(`disk-full tests skipped: ${whyNot} (they need root or CAP_SYS_ADMIN to mount a small tmpfs)`);
    return false;
  }
  probe.unmount();
  return true;
}
