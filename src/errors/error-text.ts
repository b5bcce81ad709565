/**
 * Turning whatever a stage threw into the text a checkpoint records. A stage
 * may throw anything (undefined, null, a Symbol, an object whose `toString`
 * or `message` throws); each is a failure of that task with a text that says
 * what was thrown, never a success and never a crash of the run. Texts are
 * cut to a bound so one stage's 3 MB message cannot stall or break the
 * commit that carries every other task's record.
 */

/** Most UTF-8 bytes an error text keeps, the cut mark included. */
export const MAX_ERROR_TEXT_BYTES = 16 * 1024;

/** The text recorded for a thrown or rejected value, bounded. */
export function errorText(err: unknown): string {
  return boundErrorText(describeThrown(err));
}

function describeThrown(err: unknown): string {
  if (err === undefined || err === null) return `stage threw ${String(err)}`;
  if (typeof err === 'symbol') return `stage threw ${err.toString()}`;
  try {
    if (err instanceof Error) {
      const message: unknown = err.message;
      if (typeof message === 'string' && message !== '') return message;
      return typeof err.name === 'string' && err.name !== '' ? err.name : 'Error';
    }
    const text = String(err);
    return text === '' ? `stage threw ${typeof err === 'string' ? 'an empty string' : 'a value whose text is empty'}` : text;
  } catch {
    return `stage threw ${err instanceof Error ? 'an Error' : `an ${kindOf(err)}`} that cannot be turned into text`;
  }
}

function kindOf(value: unknown): string {
  if (typeof value !== 'object' && typeof value !== 'function') return typeof value;
  try {
    const name: unknown = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    return typeof name === 'string' && name !== '' ? name : 'Object';
  } catch {
    return 'Object';
  }
}

/**
 * `text` unchanged when it fits in MAX_ERROR_TEXT_BYTES of UTF-8; otherwise
 * its longest prefix that fits with the mark "… [cut: <bytes> bytes]" (the
 * full length), cut between characters so no half of a pair or sequence is left.
 */
export function boundErrorText(text: string): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short texts need no counting.
  if (text.length * 3 <= MAX_ERROR_TEXT_BYTES) return text;
  const bytes = Buffer.byteLength(text);
  if (bytes <= MAX_ERROR_TEXT_BYTES) return text;
  const mark = `… [cut: ${bytes} bytes]`;
  const room = MAX_ERROR_TEXT_BYTES - Buffer.byteLength(mark);
  let used = 0;
  let end = 0;
  while (end < text.length) {
    const unit = text.charCodeAt(end);
    const pair = unit >= 0xd800 && unit <= 0xdbff && end + 1 < text.length && (text.charCodeAt(end + 1) & 0xfc00) === 0xdc00;
    const size = pair ? 4 : unit < 0x80 ? 1 : unit < 0x800 ? 2 : 3;
    if (used + size > room) break;
    used += size;
    end += pair ? 2 : 1;
  }
  return text.slice(0, end) + mark;
}
