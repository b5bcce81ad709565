// @ts-check
/**
 * @internal
 * Who goes first when a write thread is still starting and its session
 * closes: the thread, which opens the shard's environment, or close(), which
 * gives the thread up. One shared word decides it, so exactly one of them
 * wins. A thread given up never touches LMDB: it ends by itself once loaded,
 * and close() need not wait ~0.1 s for it to load only to tell it to stop.
 * A thread that won must be closed as before (write-thread.ts): it is never
 * terminated, which could stop it inside LMDB.
 *
 * Plain JavaScript: the write thread loads it without a TypeScript step.
 */

const LOADING = 0;
const OPENED = 1;
const GIVEN_UP = 2;

/** A new gate, shared with the thread through its workerData. */
export function newGate() {
  return new Int32Array(new SharedArrayBuffer(4));
}

/**
 * In the thread, before it opens the environment: true when it may (close()
 * did not give it up first); from then on close() waits for it.
 * @param {Int32Array} gate
 */
export function enterGate(gate) {
  return Atomics.compareExchange(gate, 0, LOADING, OPENED) === LOADING;
}

/**
 * On the session's thread: true when the write thread will never open the
 * environment (it had not yet), false when it has opened it or is opening it.
 * @param {Int32Array} gate
 */
export function giveUpGate(gate) {
  return Atomics.compareExchange(gate, 0, LOADING, GIVEN_UP) === LOADING;
}
