/** An input: a stable key (part of every descendant's identity) and the data stage 0 gets. */
export interface Source<T = unknown> {
  readonly key: string;
  readonly data?: T;
  /**
   * Any text that changes when the source's input changes (e.g.
   * `await fileFingerprint(path)`). A source that comes back with another
   * fingerprint is voided and rerun whole; one recorded without a
   * fingerprint and given one later is not a change.
   */
  readonly fingerprint?: string;
}
