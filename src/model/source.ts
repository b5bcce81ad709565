/** An input: a stable key (part of every descendant's identity) and the data stage 0 gets. */
export interface Source<T = unknown> {
  readonly key: string;
  readonly data?: T;
}
