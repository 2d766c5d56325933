/**
 * Kubernetes label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`), as the `selector`
 * query parameter of list and watch takes them.
 */

export type LabelSelector = (labels: Readonly<Record<string, string>> | undefined) => boolean;

type Requirement = (labels: Readonly<Record<string, string>>) => boolean;

const KEY =
  /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

export function parseLabelSelector(text: string | undefined): LabelSelector {
  const source = (text ?? '').trim();
  if (source === '') return () => true;
  const requirements = splitRequirements(source).map(parseRequirement);
  return (labels) => requirements.every((r) => r(labels ?? {}));
}

function splitRequirements(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else current += char;
  }
  parts.push(current.trim());
  return parts;
}

function parseRequirement(text: string): Requirement {
  const fail = (): never => {
    throw new SelectorError(`unable to parse requirement: ${JSON.stringify(text)}`);
  };
  const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(text);
  if (set) {
    const [, key = '', op, list = ''] = set;
    const values = list.split(',').map((v) => v.trim());
    if (!KEY.test(key) || values.some((v) => !VALUE.test(v))) fail();
    return op === 'in'
      ? (labels) => key in labels && values.includes(labels[key] ?? '')
      : (labels) => !(key in labels) || !values.includes(labels[key] ?? '');
  }
  const equality = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(text);
  if (equality) {
    const [, key = '', op, value = ''] = equality;
    if (!KEY.test(key) || !VALUE.test(value)) fail();
    return op === '!='
      ? (labels) => labels[key] !== value
      : (labels) => key in labels && labels[key] === value;
  }
  if (text.startsWith('!')) {
    const key = text.slice(1).trim();
    if (!KEY.test(key)) fail();
    return (labels) => !(key in labels);
  }
  if (!KEY.test(text)) fail();
  return (labels) => text in labels;
}
