/**
 * @internal
 * A hook told of every LMDB data file just before it is mapped. The `lineage`
 * command's isolated child (cli/isolate.ts) passes the names to its parent,
 * which can then name the damaged file when a read through the map kills the
 * child. Without a listener (library use) nothing is done.
 */
let listener: ((file: string) => void) | null = null;

export function setOpenFileListener(fn: ((file: string) => void) | null): void {
  listener = fn;
}

/** Called by the store before it maps `file`. */
export function announceOpen(file: string): void {
  listener?.(file);
}
