/**
 * @internal
 * A hook told of every LMDB data file just before it is mapped. The `lineage`
 * command's isolated child (cli/isolate.ts) passes the names to its parent,
 * which can then name the damaged file when a read through the map kills the
 * child. Without a listener (library use) nothing is done.
 */
let listener: ((file: string) => void) | null = null;
const announced = new Set<string>();

export function setOpenFileListener(fn: ((file: string) => void) | null): void {
  listener = fn;
}

/** Called by the store before it maps `file`. */
export function announceOpen(file: string): void {
  announced.add(file);
  listener?.(file);
}

/** Every data file this process has mapped, oldest first: what an LMDB error without a file name may be about. */
export function openedFiles(): readonly string[] {
  return [...announced];
}

/** True for the errors lmdb-js raises when the pages it follows are not what LMDB wrote. */
export function isLmdbDamage(err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  return /MDB_|mdb_|Invalid dupdata|page \d+ not found/.test(message);
}
