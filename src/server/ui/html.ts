/**
 * HTML by tagged template: every interpolated value is escaped (OWASP XSS Prevention Cheat
 * Sheet, rule 1: HTML entity encoding of & < > " '), unless it is an `Html` made by this module
 * (another template, or `raw()` for text the code itself wrote). Arrays are joined; null,
 * undefined and false render nothing, so `${cond && html`...`}` works.
 *
 * Values go into element content and double-quoted attributes only; never into `<script>`,
 * `style`, event handler attributes or unquoted attributes (the CSP forbids inline script
 * anyway). URLs built from data go through `href()`, which allows only http(s) and paths.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new Html(out);
}

/** Markup the code wrote itself (never data). */
export function raw(text: string): Html {
  return new Html(text);
}

/** An href for data-derived links: http(s) URLs and absolute paths only, else "#". */
export function href(url: string | undefined): string {
  if (!url) return '#';
  if (url.startsWith('/') && !url.startsWith('//')) return url;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : '#';
  } catch {
    return '#';
  }
}
