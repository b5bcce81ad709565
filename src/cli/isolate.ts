/**
 * @internal
 * Runs a `lineage` command that reads or writes LMDB in a child process of its
 * own, so that no signal reaches the user. LMDB trusts its pages: a damaged
 * data.mdb can make it read through a wild pointer (SIGSEGV, SIGBUS) or hand
 * the allocator garbage (SIGABRT). The parent turns such a death into one
 * LINEAGE_CORRUPT line naming the files the child had open, which the child
 * reports over IPC before it maps each one.
 *
 * The parent loads only Node's own modules: it stays cheap to start.
 *
 * Signals: the child runs in a process group of its own, so a terminal's
 * Ctrl-C reaches the parent alone, which passes each SIGINT / SIGTERM / SIGHUP
 * on once; the child's own handling decides what happens (`lineage run` commits
 * and exits 130/143). A child that dies by a signal the parent does not map
 * (SIGKILL, an unhandled SIGINT) ends the parent by that same signal, so the
 * caller sees what it would have seen without the isolation. The child kills
 * itself when the parent goes away (its IPC channel closes), so it never
 * outlives a parent killed with SIGKILL.
 */
import { fork } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';
import { errorLine } from './cli-errors.js';
import { setOpenFileListener } from '../store/open-files.js';
import { COMMAND_PID_ENV } from '../store/owner-record.js';

/** The environment variable that marks the child (removed from its environment as it starts). */
export const CHILD_MARKER = 'LINEAGE_CLI_CHILD';

/** Commands whose work maps LMDB files; the others (help, version, usage errors) run in the parent. */
const ISOLATED = new Set(['inspect', 'plan', 'stats', 'verify', 'merge', 'run']);

/** Deaths that mean the process read or wrote through damaged memory. */
const CRASH_SIGNALS = new Set<NodeJS.Signals>(['SIGSEGV', 'SIGBUS', 'SIGABRT', 'SIGILL', 'SIGFPE']);

const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

interface OpenMessage {
  readonly lineageOpen: string;
}

/** True when `argv` (process.argv) names a command that should run isolated. */
export function needsIsolation(argv: readonly string[]): boolean {
  return ISOLATED.has(argv[2] ?? '');
}

/** In the child: report every LMDB file before it is mapped, and die with the parent. */
export function startChild(): void {
  delete process.env[CHILD_MARKER];
  const send = process.send?.bind(process);
  if (!send || !process.channel) return;
  // The channel must not keep the command alive once its work is done.
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  setOpenFileListener((file) => {
    const message: OpenMessage = { lineageOpen: file };
    send(message);
  });
}

/**
 * In the parent: runs `bin` (the `lineage` script) again as the child with the
 * same arguments and resolves to the exit code; ends the process by the
 * child's signal when that is what the child died of.
 */
export function runIsolated(bin: string, argv: readonly string[]): Promise<number> {
  const ttyIn = process.stdin.isTTY === true;
  const child = fork(bin, argv.slice(2), {
    // The command's pid, for the owner claim of a shard the child writes (store/owner-record.ts): the pid a user sees.
    env: { ...process.env, [CHILD_MARKER]: '1', [COMMAND_PID_ENV]: String(process.pid) },
    // A child in a background process group must not read the terminal itself (SIGTTIN): the parent passes it on.
    stdio: [ttyIn ? 'pipe' : 'inherit', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  const opened = new Set<string>();
  child.on('message', (m: unknown) => {
    if (typeof m === 'object' && m !== null && typeof (m as OpenMessage).lineageOpen === 'string') opened.add((m as OpenMessage).lineageOpen);
  });
  if (ttyIn && child.stdin) process.stdin.pipe(child.stdin);
  const forward = (signal: NodeJS.Signals) => {
    try {
      child.kill(signal);
    } catch {
      // Already gone: its exit is on its way.
    }
  };
  for (const s of FORWARDED) process.on(s, forward);
  return new Promise((done) => {
    child.once('error', (err) => {
      process.stderr.write(errorLine(new LineageError(ErrorCodes.INTERNAL, `could not start the command's process: ${err.message}`)));
      done(1);
    });
    child.once('exit', (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      if (ttyIn) {
        process.stdin.unpipe();
        process.stdin.destroy();
      }
      if (signal === null) return done(code ?? 1);
      if (CRASH_SIGNALS.has(signal)) {
        process.stderr.write(errorLine(crashError(signal, argv, opened)));
        return done(1);
      }
      // As if there were no child: the same signal ends this process.
      process.kill(process.pid, signal);
    });
  });
}

function crashError(signal: NodeJS.Signals, argv: readonly string[], opened: ReadonlySet<string>): LineageError {
  const files = opened.size > 0 ? [...opened] : guessFiles(argv);
  const named = files.length === 0 ? 'the checkpoint' : files.length === 1 ? files[0]! : `one of ${files.join(', ')}`;
  const checkpoint = checkpointArg(argv);
  const verify = checkpoint === null ? '`lineage verify` on the checkpoint' : `\`lineage verify ${checkpoint}\``;
  return new LineageError(
    ErrorCodes.CORRUPT,
    `the ${argv[2]} process died of ${signal} with ${named} open: the file is damaged (LMDB followed a bad page pointer). ` +
      `Run ${verify} to see what it finds, and restore the checkpoint from a backup.`,
  );
}

/** The checkpoint directory a command line names: the argument after the command, or `--checkpoint` for run. */
function checkpointArg(argv: readonly string[]): string | null {
  const args = argv.slice(3);
  if (argv[2] === 'run') {
    const i = args.findIndex((a) => a === '--checkpoint' || a.startsWith('--checkpoint='));
    if (i < 0) return null;
    return args[i]!.includes('=') ? args[i]!.slice('--checkpoint='.length) : (args[i + 1] ?? null);
  }
  return args.find((a) => !a.startsWith('-')) ?? null;
}

/** When the child died before it reported a file: every shard's data file of the checkpoint. */
function guessFiles(argv: readonly string[]): string[] {
  const checkpoint = checkpointArg(argv);
  if (checkpoint === null) return [];
  const writers = join(resolve(checkpoint), 'writers');
  try {
    return readdirSync(writers)
      .map((w) => join(writers, w, 'data.mdb'))
      .filter((f) => existsSync(f));
  } catch {
    return [];
  }
}
