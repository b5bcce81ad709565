/**
 * @internal
 * LMDB relies on mmap coherence and POSIX locks that network filesystems do
 * not provide across hosts: two hosts writing one environment over NFS
 * corrupt it. This finds the filesystem a path lives on from
 * /proc/self/mountinfo, so opening a checkpoint there can warn.
 */
import { readFileSync, realpathSync } from 'node:fs';

const NETWORK_FS = /^(nfs4?|cifs|smb3?|smbfs|ncpfs|afs|9p|ceph|glusterfs|lustre|gpfs|beegfs|fuse\.sshfs|fuse\.s3fs|fuse\.gcsfuse|fuse\.rclone|fuse\.glusterfs|fuse\.cephfs)$/;

export interface MountInfo {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
}

/** The mount `path` lives on, from mountinfo text (the longest matching mount point wins). */
export function mountOf(path: string, mountinfo: string): MountInfo | null {
  let best: MountInfo | null = null;
  for (const line of mountinfo.split('\n')) {
    // "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const mountPoint = unescape(line.slice(0, dash).split(' ')[4] ?? '');
    const [fsType = '', source = ''] = line.slice(dash + 3).split(' ');
    const inside = path === mountPoint || path.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`);
    if (inside && (!best || mountPoint.length >= best.mountPoint.length)) best = { mountPoint, fsType, source };
  }
  return best;
}

export function isNetworkFs(fsType: string): boolean {
  return NETWORK_FS.test(fsType);
}

/** A warning text when `dir` is on a network filesystem, else null. */
export function networkFsWarning(dir: string, mountinfoFile = '/proc/self/mountinfo'): string | null {
  let text: string;
  let real: string;
  try {
    text = readFileSync(mountinfoFile, 'utf8');
    real = realpathSync(dir);
  } catch {
    return null; // not Linux, or no procfs: nothing to say
  }
  const mount = mountOf(real, text);
  if (!mount || !isNetworkFs(mount.fsType)) return null;
  return (
    `${dir} is on a ${mount.fsType} filesystem (${mount.source} at ${mount.mountPoint}). LMDB must not be shared between ` +
    'hosts over a network filesystem: give each host its own writerId (each writes only its own shard), or put the ' +
    'checkpoint on local disk.'
  );
}

// mountinfo escapes space, tab, newline and backslash as octal.
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
