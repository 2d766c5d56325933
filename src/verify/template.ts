/**
 * Templates in check URLs and PromQL: `{namespace}`, `{colour}`, `{stack}`, `{component}` and
 * `{version}` (the image tag of `{component}` in the colour measured, so that a query can
 * measure only the release under test and not the previous pods of the same namespace).
 * Any other `{word}` is an error (a typo must not reach Prometheus or the network). PromQL's
 * own braces never clash: a label matcher always has an operator (`{code=~"5.."}`).
 */
export const TEMPLATE_VARIABLES = ['namespace', 'colour', 'stack', 'component', 'version'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];
export type TemplateValues = Record<TemplateVariable, string>;

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The unknown variables a template uses (empty when it is fine). */
export function unknownVariables(template: string): string[] {
  const known = new Set<string>(TEMPLATE_VARIABLES);
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((v) => !known.has(v));
}

/** The values for another component of the same colour: `{version}` follows it. */
export function withComponent(
  values: TemplateValues,
  component: string,
  versions: Readonly<Record<string, string | undefined>>,
): TemplateValues {
  return { ...values, component, version: versions[component] ?? '' };
}

/** Substitutes the variables; `encode` escapes each value for where it lands (URL, PromQL). */
export function fillTemplate(
  template: string,
  values: TemplateValues,
  encode: (value: string) => string = (v) => v,
): string {
  return template.replace(PLACEHOLDER, (whole, name: string) =>
    name in values ? encode(values[name as TemplateVariable]) : whole,
  );
}

/** Escapes a value inside a PromQL double-quoted string. */
export function promqlString(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
