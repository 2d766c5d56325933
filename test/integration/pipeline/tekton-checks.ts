/**
 * Focused structural checks for the Tekton files in tekton/ (no Tekton schema package is
 * available offline): API version and kinds, declared vs referenced params and results, array
 * params used the way Tekton allows, steps with images, secrets only from Secrets, refs between
 * Pipeline, Task and runs, and the parameter types each side expects. `tektonProblems` returns
 * the problems found, so a test can show it finds them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface TektonDoc {
  file: string;
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; generateName?: string };
  spec?: Record<string, unknown>;
}

interface ParamSpec {
  name: string;
  type?: string;
  default?: unknown;
}
interface ParamValue {
  name: string;
  value: unknown;
}
interface Step {
  name?: string;
  image?: string;
  command?: string[];
  args?: string[];
  script?: string;
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string } } }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PipelineTask {
  name: string;
  taskRef?: { name?: string };
  params?: ParamValue[];
  runAfter?: string[];
  when?: { input: string; operator: string; values: string[] }[];
}

const KINDS = new Set(['Task', 'Pipeline', 'PipelineRun', 'TaskRun']);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SECRET_NAME = /TOKEN|PASSWORD|SECRET|CREDENTIAL/;
const REF = /\$\(([^()]+)\)/g;

export function loadTektonDir(dir: string): TektonDoc[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .flatMap((file) =>
      parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((d) => ({
        file,
        ...(d.toJS() as Omit<TektonDoc, 'file'>),
      })),
    );
}

/** Every string inside `value`, with where it is. */
function strings(value: unknown, at: string): { at: string; text: string }[] {
  if (typeof value === 'string') return [{ at, text: value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${at}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => strings(v, `${at}.${k}`));
  }
  return [];
}

function refs(text: string): string[] {
  return [...text.matchAll(REF)].map((m) => m[1]!);
}

function paramTypeOf(p: ParamSpec): 'string' | 'array' | 'object' {
  return (p.type ?? 'string') as 'string' | 'array' | 'object';
}

function checkParamSpecs(where: string, params: ParamSpec[], problems: string[]) {
  const seen = new Set<string>();
  for (const p of params) {
    if (seen.has(p.name)) problems.push(`${where}: param ${p.name} declared twice`);
    seen.add(p.name);
    const type = paramTypeOf(p);
    if (!['string', 'array'].includes(type))
      problems.push(`${where}: param ${p.name}: type ${type}`);
    if (p.default !== undefined && Array.isArray(p.default) !== (type === 'array')) {
      problems.push(`${where}: param ${p.name}: default does not match type ${type}`);
    }
  }
}

/** A `$(params.x)` / `$(params.x[*])` reference against the declared params. */
function checkParamRef(
  where: string,
  ref: string,
  declared: Map<string, ParamSpec>,
  wholeArrayElement: boolean,
  problems: string[],
) {
  const m = /^params\.([\w-]+)(\[(\*|\d+)\])?$/.exec(ref);
  if (!m) return problems.push(`${where}: malformed reference $(${ref})`);
  const param = declared.get(m[1]!);
  if (!param) return problems.push(`${where}: $(${ref}) names no declared param`);
  const type = paramTypeOf(param);
  if (m[3] === '*') {
    if (type !== 'array') problems.push(`${where}: $(${ref}) expands a ${type} param`);
    else if (!wholeArrayElement)
      problems.push(`${where}: $(${ref}) must be a whole element of an array field`);
  } else if (type === 'array' && m[3] === undefined) {
    problems.push(`${where}: array param ${param.name} used as a string`);
  }
}

function checkTask(doc: TektonDoc, problems: string[]) {
  const where = `${doc.file} Task ${doc.metadata?.name}`;
  const spec = doc.spec ?? {};
  const params = (spec.params ?? []) as ParamSpec[];
  checkParamSpecs(where, params, problems);
  const declared = new Map(params.map((p) => [p.name, p]));
  const results = new Set(((spec.results ?? []) as { name: string }[]).map((r) => r.name));
  const volumes = new Set(((spec.volumes ?? []) as { name: string }[]).map((v) => v.name));
  const steps = (spec.steps ?? []) as Step[];
  if (steps.length === 0) problems.push(`${where}: no steps`);
  const stepNames = new Set<string>();
  for (const [i, step] of steps.entries()) {
    const at = `${where} step ${step.name ?? i}`;
    if (!step.name || !DNS_LABEL.test(step.name)) problems.push(`${at}: needs a DNS-label name`);
    else if (stepNames.has(step.name)) problems.push(`${at}: name used twice`);
    if (step.name) stepNames.add(step.name);
    if (!step.image) problems.push(`${at}: no image`);
    if (step.script !== undefined && step.command !== undefined) {
      problems.push(`${at}: script and command together`);
    }
    for (const env of step.env ?? []) {
      if (SECRET_NAME.test(env.name) && !env.valueFrom?.secretKeyRef) {
        problems.push(`${at}: ${env.name} must come from a Secret (valueFrom.secretKeyRef)`);
      }
    }
    for (const mount of step.volumeMounts ?? []) {
      if (!volumes.has(mount.name)) problems.push(`${at}: mounts undeclared volume ${mount.name}`);
    }
    // The shell text itself: parameters must reach it through the environment, not be pasted
    // into it (a value would become code).
    const shellText =
      step.script ??
      (step.command?.some((c) => /(^|\/)(ba)?sh$/.test(c)) ? step.args?.[0] : undefined);
    if (shellText && /\$\(params\./.test(shellText)) {
      problems.push(`${at}: the script pastes a param into shell code; pass it as env`);
    }
    for (const { at: field, text } of strings(step, `${at}`)) {
      const isArrayElement = /\.(args|command)\[\d+\]$/.test(field);
      for (const ref of refs(text)) {
        if (ref.startsWith('params.')) {
          checkParamRef(field, ref, declared, isArrayElement && text === `$(${ref})`, problems);
        } else if (ref.startsWith('results.')) {
          const m = /^results\.([\w-]+)\.path$/.exec(ref);
          if (!m || !results.has(m[1]!))
            problems.push(`${field}: $(${ref}) names no declared result`);
        }
      }
    }
  }
}

function checkPassedParams(
  where: string,
  given: ParamValue[],
  target: ParamSpec[] | undefined,
  problems: string[],
) {
  if (!target) return;
  const byName = new Map(target.map((p) => [p.name, p]));
  for (const p of given) {
    const spec = byName.get(p.name);
    if (!spec) {
      problems.push(`${where}: passes param ${p.name}, which is not declared`);
      continue;
    }
    if (Array.isArray(p.value) !== (paramTypeOf(spec) === 'array')) {
      const wanted = paramTypeOf(spec) === 'array' ? 'an array' : 'a string';
      problems.push(`${where}: param ${p.name} needs ${wanted} value`);
    }
  }
  const names = new Set(given.map((p) => p.name));
  for (const spec of target) {
    if (spec.default === undefined && !names.has(spec.name)) {
      problems.push(`${where}: required param ${spec.name} not given`);
    }
  }
}

function checkPipeline(doc: TektonDoc, tasks: Map<string, TektonDoc>, problems: string[]) {
  const where = `${doc.file} Pipeline ${doc.metadata?.name}`;
  const spec = doc.spec ?? {};
  const params = (spec.params ?? []) as ParamSpec[];
  checkParamSpecs(where, params, problems);
  const declared = new Map(params.map((p) => [p.name, p]));
  const pipelineTasks = (spec.tasks ?? []) as PipelineTask[];
  const taskOf = new Map(pipelineTasks.map((t) => [t.name, t]));
  const resultsOf = (pipelineTask: string): Set<string> | undefined => {
    const ref = taskOf.get(pipelineTask)?.taskRef?.name;
    const task = ref ? tasks.get(ref) : undefined;
    return task
      ? new Set(((task.spec?.results ?? []) as { name: string }[]).map((r) => r.name))
      : undefined;
  };
  const checkRefs = (at: string, value: unknown) => {
    for (const { at: field, text } of strings(value, at)) {
      for (const ref of refs(text)) {
        if (ref.startsWith('params.')) {
          const isElement = /\]$/.test(field) && text === `$(${ref})`;
          checkParamRef(field, ref, declared, isElement, problems);
        } else if (ref.startsWith('tasks.')) {
          const m = /^tasks\.([\w-]+)\.results\.([\w-]+)$/.exec(ref);
          if (!m || !taskOf.has(m[1]!)) problems.push(`${field}: $(${ref}) names no pipeline task`);
          else if (!resultsOf(m[1]!)?.has(m[2]!))
            problems.push(`${field}: $(${ref}) names no result of ${m[1]}`);
        } else if (!/^context\.pipelineRun\.(name|namespace|uid)$/.test(ref)) {
          problems.push(`${field}: unknown reference $(${ref})`);
        }
      }
    }
  };
  if (pipelineTasks.length === 0) problems.push(`${where}: no tasks`);
  for (const t of pipelineTasks) {
    const at = `${where} task ${t.name}`;
    if (!DNS_LABEL.test(t.name)) problems.push(`${at}: needs a DNS-label name`);
    const task = t.taskRef?.name ? tasks.get(t.taskRef.name) : undefined;
    if (!task) problems.push(`${at}: taskRef ${t.taskRef?.name} is not a Task in tekton/`);
    for (const after of t.runAfter ?? []) {
      if (!taskOf.has(after)) problems.push(`${at}: runAfter ${after}, which is not a task here`);
    }
    checkPassedParams(at, t.params ?? [], task?.spec?.params as ParamSpec[] | undefined, problems);
    checkRefs(`${at}.params`, t.params ?? []);
    checkRefs(`${at}.when`, t.when ?? []);
  }
  checkRefs(`${where}.results`, spec.results ?? []);
}

function checkRun(doc: TektonDoc, byKind: Map<string, Map<string, TektonDoc>>, problems: string[]) {
  const where = `${doc.file} ${doc.kind}`;
  const refKind = doc.kind === 'PipelineRun' ? 'Pipeline' : 'Task';
  const refName = (
    doc.spec?.[doc.kind === 'PipelineRun' ? 'pipelineRef' : 'taskRef'] as
      { name?: string } | undefined
  )?.name;
  const target = refName ? byKind.get(refKind)?.get(refName) : undefined;
  if (!target) return problems.push(`${where}: refers to ${refKind} ${refName}, not in tekton/`);
  checkPassedParams(
    where,
    (doc.spec?.params ?? []) as ParamValue[],
    target.spec?.params as ParamSpec[] | undefined,
    problems,
  );
}

export function tektonProblems(docs: TektonDoc[]): string[] {
  const problems: string[] = [];
  const byKind = new Map<string, Map<string, TektonDoc>>();
  for (const doc of docs) {
    const where = `${doc.file} ${doc.kind ?? '?'}`;
    if (doc.apiVersion !== 'tekton.dev/v1') {
      problems.push(`${where}: apiVersion ${doc.apiVersion}, expected tekton.dev/v1`);
    }
    if (!doc.kind || !KINDS.has(doc.kind)) problems.push(`${where}: unexpected kind`);
    const name = doc.metadata?.name ?? doc.metadata?.generateName?.replace(/-$/, '');
    if (!name || !DNS_LABEL.test(name))
      problems.push(`${where}: metadata name ${name} is not a DNS label`);
    if (doc.kind && doc.metadata?.name) {
      const names = byKind.get(doc.kind) ?? new Map<string, TektonDoc>();
      names.set(doc.metadata.name, doc);
      byKind.set(doc.kind, names);
    }
  }
  const tasks = byKind.get('Task') ?? new Map<string, TektonDoc>();
  for (const doc of docs) {
    if (doc.kind === 'Task') checkTask(doc, problems);
    else if (doc.kind === 'Pipeline') checkPipeline(doc, tasks, problems);
    else if (doc.kind === 'PipelineRun' || doc.kind === 'TaskRun') checkRun(doc, byKind, problems);
  }
  return problems;
}
