/**
 * @internal
 * `lineage plan <ckpt>`: what a rerun will skip, resume and redo, totals
 * first, then per stage and per source; `--explain` shows the path down to
 * each failed or never-consumed task of one source or task. Reads only.
 */
import { explainResume, type Explanation } from '../planner/explain-resume.js';
import { formatFingerprint } from '../planner/fingerprint.js';
import { VERDICT_CODES, planResume, type ResumePlan, type SourcePlan, type StatePlan } from '../planner/plan-resume.js';
import type { LineageStore } from '../store/lineage-store.js';
import { EXIT_OK } from './cli-errors.js';
import { withStore, type CommandContext } from './command-context.js';
import { checkpointHeader } from './describe-checkpoint.js';
import { loadPipelineModule } from './load-pipeline-module.js';
import { openSourceList } from './read-source-list.js';
import { resolveSourceOrUdid } from './resolve-task.js';
import { runSources } from './run-sources.js';

export interface PlanCommandOptions {
  readonly sources?: string;
  readonly pipeline?: string;
  readonly acceptChange?: boolean;
  readonly json?: boolean;
  readonly explain?: string;
  readonly limit?: number;
  /** `--no-check-outputs` makes it false. */
  readonly checkOutputs?: boolean;
}

export const DEFAULT_PLAN_LIMIT = 20;

export async function planCommand(ctx: CommandContext, dir: string, options: PlanCommandOptions): Promise<number> {
  const mod = options.pipeline !== undefined ? await loadPipelineModule(options.pipeline) : undefined;
  const next = mod?.pipeline;
  const list = options.sources !== undefined ? await openSourceList(options.sources, ctx.io.stdin) : null;
  // The next run's sources: with a pipeline module, as its run would make them (their fingerprints
  // show an input that changed); else the keys of the list.
  let keys: (string | { key: string; fingerprint?: string })[] | undefined;
  if (mod && (list || mod.sources)) {
    keys = [];
    for await (const s of await runSources(mod, list)) keys.push(typeof s.fingerprint === 'string' ? { key: s.key, fingerprint: s.fingerprint } : s.key);
  } else if (list) {
    keys = [];
    for await (const { key } of list.keys) keys.push(key);
  }
  return withStore(ctx, dir, async (store) => {
    if (options.explain !== undefined) {
      const target = resolveSourceOrUdid(store, options.explain, '--explain');
      const why = explainResume(store, target.sourceKey ?? target.udid, { limit: options.limit ?? DEFAULT_PLAN_LIMIT });
      // The source's verdict under the next run's pipeline: what triggers its rerun.
      const plan =
        why.sourceKey === null
          ? null
          : await planResume(store, {
              sources: [keys?.find((k) => typeof k !== 'string' && k.key === why.sourceKey) ?? why.sourceKey],
              ...(next ? { pipeline: next } : {}),
              acceptChange: options.acceptChange === true,
              openPerSource: 0,
              checkOutputs: options.checkOutputs !== false,
            });
      const verdict = plan?.sources[0] ?? null;
      const trigger =
        plan === null
          ? null
          : {
              verdict: verdict!.verdict,
              code: verdict!.code,
              reason: verdict!.reason,
              fingerprint: plan.fingerprint,
              ...(verdict!.input ? { input: verdict!.input } : {}),
              ...(verdict!.missingOutputs ? { missingOutputs: verdict!.missingOutputs } : {}),
            };
      ctx.out.write(options.json ? JSON.stringify({ ...why, ...(trigger ? { trigger } : {}) }, null, 2) + '\n' : renderExplanation(store, why, trigger));
    } else {
      ctx.progress.update(() => 'planning: reading the checkpoint…');
      const plan = await planResume(store, {
        ...(keys ? { sources: keys } : {}),
        ...(next ? { pipeline: next } : {}),
        acceptChange: options.acceptChange === true,
        checkOutputs: options.checkOutputs !== false,
      });
      ctx.progress.done();
      ctx.out.write(options.json ? JSON.stringify(plan, null, 2) + '\n' : renderPlan(store, plan, options.limit ?? DEFAULT_PLAN_LIMIT));
    }
    await ctx.out.flush();
    return EXIT_OK;
  });
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const num = (x: number) => x.toLocaleString('en-US');

export function renderPlan(store: LineageStore, plan: ResumePlan, limit: number): string {
  const t = plan.totals;
  const lines = checkpointHeader(store);
  lines.push(`pipeline    ${formatFingerprint(plan.fingerprint.stored)}`);
  if (plan.fingerprint.changed) {
    lines.push(`next run    ${formatFingerprint(plan.fingerprint.current)}`);
    lines.push(
      `changed     ${plan.fingerprint.change}${plan.fingerprint.accepted ? ' (accepted as cosmetic: completion kept)' : `: completion from there on is void; ${num(t.invalidated)} complete source(s) go back to work`}`,
    );
  }
  lines.push('');
  lines.push(`sources     ${num(t.sources)}: ${num(t.skip)} skip, ${num(t.resume)} resume, ${num(t.new)} new, ${num(t.invalidated)} invalidated`);
  if (plan.mode === 'sources') {
    lines.push('            source-counter mode: the plan is per source; a source that is not skipped reruns whole');
  } else {
    lines.push(`tasks       ${num(t.tasks)} known, ${num(t.complete)} complete`);
    lines.push(`rerun       ${num(t.rerunTasks)} known task(s) execute again; ${num(t.prunedSubtrees)} completed subtree(s) pruned; work saved ${pct(t.workSaved)}`);
    lines.push('');
    const w = Math.max(5, ...plan.stages.map((s) => s.stage.length));
    lines.push(`${'stage'.padEnd(w)}  ${'rerun'.padStart(10)}  ${'pruned'.padStart(10)}`);
    for (const s of plan.stages) lines.push(`${s.stage.padEnd(w)}  ${num(s.rerun).padStart(10)}  ${num(s.pruned).padStart(10)}`);
    for (const s of plan.stateful) lines.push(statefulLine(s));
  }
  const todo = plan.sources.filter((s) => s.verdict !== 'skip');
  lines.push('');
  if (todo.length === 0) lines.push(t.sources === 0 ? 'no sources' : 'every source is complete: a rerun skips them all');
  else {
    lines.push(`sources to run (${num(todo.length)}), by what sends them back:`);
    const shown = todo.slice(0, limit);
    const kw = Math.max(...shown.map((s) => s.sourceKey.length));
    for (const code of VERDICT_CODES) {
      const group = shown.filter((s) => s.code === code);
      if (group.length === 0) continue;
      const all = todo.reduce((n, s) => n + (s.code === code ? 1 : 0), 0);
      lines.push(`  ${code} (${num(all)}):`);
      for (const s of group) {
        lines.push(`    ${s.sourceKey.padEnd(kw)}  ${s.reason}`);
        for (const o of s.open) {
          const what = o.status === 'failed' ? `failed in ${o.at}: ${o.error}` : `never consumed${o.at ? ` by ${o.at}` : ''}`;
          lines.push(`    ${''.padEnd(kw)}    ${o.udid.slice(0, 8)} (${o.stage ?? 'source'}) ${what}`);
        }
      }
    }
    if (todo.length > limit) lines.push(`  … and ${num(todo.length - limit)} more (--limit, or --json for all)`);
    lines.push('', 'why a source reruns: lineage plan <checkpoint> --explain <source key or UDID>');
  }
  return lines.join('\n') + '\n';
}

function statefulLine(s: StatePlan): string {
  const where = `stateful    ${s.stage} (writer ${s.writerId}): `;
  if (s.void) return `${where}its ${num(s.kept)} checkpoint(s) are void (the pipeline changed at or before it); every input is absorbed again`;
  return (
    `${where}a resume is offered checkpoint #${s.offered.id} first (of ${num(s.kept)}, recorded ${s.offered.at}); ` +
    `restored, it saves absorbing ${num(s.inputsSaved)} input(s) again`
  );
}

interface Trigger {
  readonly verdict: SourcePlan['verdict'];
  readonly code: SourcePlan['code'];
  readonly reason: string;
  readonly fingerprint: ResumePlan['fingerprint'];
  readonly input?: SourcePlan['input'];
  readonly missingOutputs?: SourcePlan['missingOutputs'];
}

function renderExplanation(store: LineageStore, why: Explanation, trigger: Trigger | null): string {
  const lines = checkpointHeader(store);
  if (trigger) {
    lines.push(`verdict     ${trigger.verdict} (${trigger.code}): ${trigger.reason}`);
    const fp = trigger.fingerprint;
    if (trigger.input) {
      lines.push(`trigger     the input changed since it was recorded`);
      lines.push(`            recorded    ${trigger.input.recorded}`);
      lines.push(`            now         ${trigger.input.current}`);
    } else if (trigger.missingOutputs) {
      lines.push(`trigger     ${trigger.missingOutputs.length === 1 ? 'an output it recorded is' : 'outputs it recorded are'} gone`);
      for (const m of trigger.missingOutputs) lines.push(`            ${m.path}  (written consuming ${m.udid.slice(0, 8)}${m.stage ? `, emitted by ${m.stage}` : ''})`);
    } else if (fp.changed && !fp.accepted) {
      lines.push(`trigger     ${fp.change}`);
      lines.push(`            recorded by ${formatFingerprint(fp.stored)}`);
      lines.push(`            next run    ${formatFingerprint(fp.current)}`);
    }
  }
  lines.push('');
  const name = why.sourceKey !== null ? `${why.sourceKey} (${why.udid.slice(0, 8)})` : why.udid;
  if (why.complete && trigger?.code === 'input-changed') lines.push(`${name} was complete, but its input changed: a rerun voids what it recorded and runs it whole`);
  else if (why.complete && trigger?.code === 'output-missing') lines.push(`${name} was complete, but an output is gone: a rerun consumes that task again and redoes what it led to`);
  else if (why.complete && trigger?.verdict === 'invalidated') lines.push(`${name} was complete, but that change voids it: a rerun redoes its work from the changed stage on`);
  else if (why.complete) lines.push(`${name} is complete: a rerun skips it`);
  else if (why.open.length === 0) lines.push(`${name} is incomplete, but no failed or unconsumed task below it was found: its last emissions were lost in a crash; a rerun redoes them`);
  else {
    lines.push(`${name} reruns: ${why.open.length}${why.truncated ? '+' : ''} open task(s) below it`);
    why.open.forEach(({ task, path }, i) => {
      const what = task.status === 'failed' ? `failed in ${task.at}: ${task.error}` : `never consumed${task.at ? ` by ${task.at}` : ''} (the run stopped before it)`;
      lines.push('', `${i + 1}. ${task.udid.slice(0, 8)} ${what}`);
      for (const step of path) lines.push(`     ${step.stage === null ? 'source' : step.stage.padEnd(6)} ${step.udid}`);
    });
    if (why.truncated) lines.push('', `… more open tasks (--limit)`);
  }
  return lines.join('\n') + '\n';
}
