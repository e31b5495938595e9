// The generated pages of the spec site: the registries as tables (methods, headers and value
// types, status codes, error codes, limits), the grammar rule by rule, the state machines, and
// the requirement index. Each function returns body HTML; build.ts wraps it in the layout.

import {
  escapeHtml,
  errorAnchor,
  headerAnchor,
  limitAnchor,
  machineAnchor,
  methodAnchor,
  reqAnchor,
  ruleAnchor,
  statusAnchor,
  typeAnchor,
} from './anchors.js';
import type { Report } from './scan.js';

const e = escapeHtml;

// ---------------------------------------------------------------------------------------------
// Registry shapes (read loosely: the registries grow while the site is built)

export interface Registries {
  methods: { errorResponseHeaders?: { required?: string[]; optional?: string[] }; methods: MethodEntry[] };
  headers: { headers: Array<{ name: string; type: string; text?: string; repeatable?: boolean }> };
  types: { types: Record<string, { pattern: string; max?: number; text?: string }> };
  statusCodes: { statusCodes: Array<{ code: number; reason: string; class?: string; text?: string }> };
  errors: { errors: Array<{ code: string; status: number; reason: string; req?: string; text?: string }> };
  limits: {
    limits: Array<{
      name: string;
      value: number;
      unit?: string;
      configurable?: boolean;
      min?: number;
      max?: number;
      req?: string;
      text?: string;
    }>;
  };
}

export interface ResponseSpec {
  required?: string[];
  optional?: string[];
  body?: string;
}

export interface MethodLink {
  from: string;
  to: string;
  sealed?: boolean;
  required?: string[];
  optional?: string[];
  body?: string;
  responses?: Record<string, ResponseSpec>;
}

export interface MethodEntry {
  name: string;
  kind: string;
  section?: string;
  summary?: string;
  links: MethodLink[];
  drives?: string | string[];
}

/** Resolves cross-references for the generated pages. */
export interface Linker {
  /** Link to a requirement's sentence (or its index entry when the text does not define it yet). */
  req(id: string): string;
  /** Link to a spec section by number ("12.4"), or null. */
  section(number: string): string | null;
  /** Link to the spec section that specifies a method, or null. */
  methodSection(name: string): { href: string; label: string } | null;
  /** The known requirement IDs, for linking IDs inside grammar comments. */
  knownReq(id: string): boolean;
}

const ROLE: Record<string, string> = { crs: 'CRS', ms: 'MS', client: 'client' };
const role = (r: string): string => ROLE[r] ?? r;

function reqLink(id: string | undefined, L: Linker): string {
  if (!id) return '';
  if (!L.knownReq(id)) return `<code class="undefined-req" title="not defined in spec/text yet">${e(id)}</code>`;
  return `<a class="req-ref" href="${L.req(id)}">${e(id)}</a>`;
}

function headerLinks(names: readonly string[] | undefined, known: Set<string>): string {
  if (!names || names.length === 0) return '<span class="none">none</span>';
  return names
    .map((n) =>
      known.has(n.toLowerCase())
        ? `<a href="headers.html#${headerAnchor(n)}"><code>${e(n)}</code></a>`
        : `<code>${e(n)}</code>`,
    )
    .join(', ');
}

function statusLink(code: string | number, known: Set<number>): string {
  const n = Number(code);
  return known.has(n) ? `<a href="status-codes.html#${statusAnchor(n)}">${e(String(code))}</a>` : e(String(code));
}

// ---------------------------------------------------------------------------------------------
// Methods

export function methodsPage(R: Registries, L: Linker): string {
  const knownHeaders = new Set(R.headers.headers.map((h) => h.name.toLowerCase()));
  const knownStatus = new Set(R.statusCodes.statusCodes.map((s) => s.code));
  const reasons = new Map(R.statusCodes.statusCodes.map((s) => [s.code, s.reason] as const));
  const out: string[] = [];
  out.push('<h1>Methods</h1>');
  out.push(
    '<p class="lede">Every IMSP method from <code>spec/registry/methods.json</code>: who sends it to whom, the headers each link requires and allows, the body, whether it travels inside SEALED, and the responses it can get with the headers each carries. Kinds: <em>request</em> (exactly one response, in order), <em>notification</em> (no response), <em>handshake</em>, <em>envelope</em>.</p>',
  );
  const erh = R.methods.errorResponseHeaders;
  if (erh) {
    out.push(
      `<p>Every error response (4xx, 5xx) carries ${headerLinks(erh.required, knownHeaders)} and may carry ${headerLinks(erh.optional, knownHeaders)}.</p>`,
    );
  }
  out.push(
    '<table class="compact"><thead><tr><th>Method</th><th>Kind</th><th>Links</th><th>Summary</th></tr></thead><tbody>',
  );
  for (const m of R.methods.methods) {
    const links = m.links.map((l) => `${role(l.from)}&rarr;${role(l.to)}`).join(', ');
    out.push(
      `<tr><td><a href="#${methodAnchor(m.name)}"><code>${e(m.name)}</code></a></td><td>${e(m.kind)}</td><td>${links}</td><td>${e(m.summary ?? '')}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  for (const m of R.methods.methods) {
    out.push(`<section class="entry" id="${methodAnchor(m.name)}">`);
    out.push(
      `<h2><code>${e(m.name)}</code> <span class="kind">${e(m.kind)}</span> <a class="self" href="#${methodAnchor(m.name)}" aria-label="Link to ${e(m.name)}">&para;</a></h2>`,
    );
    if (m.summary) out.push(`<p>${e(m.summary)}</p>`);
    const facts: string[] = [];
    const sec = L.methodSection(m.name);
    if (sec) facts.push(`Specified in <a href="${sec.href}">${e(sec.label)}</a>.`);
    const drives = Array.isArray(m.drives) ? m.drives : m.drives ? [m.drives] : [];
    if (drives.length > 0) {
      facts.push(
        'Drives ' +
          drives
            .map((d) => {
              const [machine, event] = d.split(':');
              return `<a href="machines.html#${machineAnchor(machine)}">${e(machine)}</a>${event ? ` on event <code>${e(event)}</code>` : ''}`;
            })
            .join('; ') +
          '.',
      );
    }
    if (facts.length > 0) out.push(`<p class="facts">${facts.join(' ')}</p>`);
    for (const l of m.links) {
      out.push(
        `<h3>${role(l.from)} &rarr; ${role(l.to)}${l.sealed ? ' <span class="tag">inside SEALED</span>' : ''}</h3>`,
      );
      out.push('<table class="kv"><tbody>');
      out.push(`<tr><th>Required headers</th><td>${headerLinks(l.required, knownHeaders)}</td></tr>`);
      out.push(`<tr><th>Optional headers</th><td>${headerLinks(l.optional, knownHeaders)}</td></tr>`);
      out.push(`<tr><th>Body</th><td>${e(l.body ?? 'none')}</td></tr>`);
      out.push('</tbody></table>');
      const responses = Object.entries(l.responses ?? {});
      if (responses.length > 0) {
        out.push(
          '<table class="compact responses"><thead><tr><th>Response</th><th>Required headers</th><th>Optional headers</th><th>Body</th></tr></thead><tbody>',
        );
        for (const [code, r] of responses) {
          const reason = reasons.get(Number(code));
          // Error responses also carry the headers every error response has (errorResponseHeaders).
          const isError = Number(code) >= 400 && erh !== undefined;
          const union = (a: string[] | undefined, b: string[] | undefined): string[] => [
            ...new Set([...(a ?? []), ...(b ?? [])]),
          ];
          const req = isError ? union(erh?.required, r.required) : r.required;
          const opt = isError ? union(erh?.optional, r.optional).filter((h) => !(req ?? []).includes(h)) : r.optional;
          out.push(
            `<tr><td>${statusLink(code, knownStatus)}${reason ? ` ${e(reason)}` : ''}</td><td>${headerLinks(req, knownHeaders)}</td><td>${headerLinks(opt, knownHeaders)}</td><td>${e(r.body ?? 'none')}</td></tr>`,
          );
        }
        out.push('</tbody></table>');
      }
    }
    out.push('</section>');
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Headers and value types

export function headersPage(R: Registries, L: Linker): string {
  void L;
  const usedBy = new Map<string, Set<string>>();
  for (const m of R.methods.methods)
    for (const l of m.links)
      for (const h of [...(l.required ?? []), ...(l.optional ?? [])]) {
        const k = h.toLowerCase();
        if (!usedBy.has(k)) usedBy.set(k, new Set());
        usedBy.get(k)?.add(m.name);
      }
  const out: string[] = [];
  out.push('<h1>Headers</h1>');
  out.push(
    '<p class="lede">Every header IMSP defines, from <code>spec/registry/headers.json</code>. Names match case-insensitively; the spelling here is canonical. Values are checked against their value type (below) after optional surrounding whitespace is removed. Headers named <code>X-</code>&hellip; are extensions that receivers ignore.</p>',
  );
  out.push(
    '<table><thead><tr><th>Header</th><th>Value type</th><th>Repeatable</th><th>Meaning</th><th>Used by</th></tr></thead><tbody>',
  );
  for (const h of R.headers.headers) {
    const t = R.types.types[h.type];
    const typeCell = t ? `<a href="#${typeAnchor(h.type)}">${e(h.type)}</a>` : e(h.type);
    const users = [...(usedBy.get(h.name.toLowerCase()) ?? [])]
      .map((n) => `<a href="methods.html#${methodAnchor(n)}">${e(n)}</a>`)
      .join(', ');
    out.push(
      `<tr id="${headerAnchor(h.name)}"><td><code>${e(h.name)}</code></td><td>${typeCell}</td><td>${h.repeatable ? 'yes' : 'no'}</td><td>${e(h.text ?? '')}</td><td class="small">${users}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  out.push(
    '<h2 id="value-types">Value types <a class="self" href="#value-types" aria-label="Link to value types">&para;</a></h2>',
  );
  out.push(
    '<p>From <code>spec/registry/value-types.json</code>: each value type is an anchored regular expression over the value, with numeric bounds where given.</p>',
  );
  out.push('<table><thead><tr><th>Type</th><th>Syntax</th><th>Pattern</th><th>Max</th></tr></thead><tbody>');
  for (const [name, t] of Object.entries(R.types.types)) {
    out.push(
      `<tr id="${typeAnchor(name)}"><td><code>${e(name)}</code></td><td>${e(t.text ?? '')}</td><td><code class="pattern">${e(t.pattern)}</code></td><td>${t.max !== undefined ? e(String(t.max)) : ''}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Status codes and errors

export function statusPage(R: Registries, L: Linker): string {
  void L;
  const byStatus = new Map<number, string[]>();
  for (const er of R.errors.errors) {
    const list = byStatus.get(er.status) ?? [];
    list.push(er.code);
    byStatus.set(er.status, list);
  }
  const out: string[] = [];
  out.push('<h1>Status codes</h1>');
  out.push(
    '<p class="lede">From <code>spec/registry/status-codes.json</code>. A receiver of an unknown code in a known class treats it as that class&rsquo;s x00. Error responses carry the <a href="errors.html">error code</a> in <code>Error-code</code>.</p>',
  );
  out.push(
    '<table><thead><tr><th>Code</th><th>Reason</th><th>Class</th><th>Meaning</th><th>Error codes</th></tr></thead><tbody>',
  );
  for (const s of R.statusCodes.statusCodes) {
    const errs = (byStatus.get(s.code) ?? [])
      .map((c) => `<a href="errors.html#${errorAnchor(c)}"><code>${e(c)}</code></a>`)
      .join(' ');
    out.push(
      `<tr id="${statusAnchor(s.code)}"><td>${s.code}</td><td>${e(s.reason)}</td><td>${e(s.class ?? '')}</td><td>${e(s.text ?? '')}</td><td class="small">${errs}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  return out.join('\n');
}

export function errorsPage(R: Registries, L: Linker): string {
  const knownStatus = new Set(R.statusCodes.statusCodes.map((s) => s.code));
  const out: string[] = [];
  out.push('<h1>Error codes</h1>');
  out.push(
    '<p class="lede">From <code>spec/registry/errors.json</code>: each stable error code, the status it is answered with, its fixed reason phrase, and the requirement it enforces. Decoders report the code, status, reason and the octet offset of the error.</p>',
  );
  out.push(
    '<table><thead><tr><th>Code</th><th>Status</th><th>Reason</th><th>Requirement</th><th>When</th></tr></thead><tbody>',
  );
  for (const er of R.errors.errors) {
    out.push(
      `<tr id="${errorAnchor(er.code)}"><td><code>${e(er.code)}</code></td><td>${statusLink(er.status, knownStatus)}</td><td>${e(er.reason)}</td><td>${reqLink(er.req, L)}</td><td>${e(er.text ?? '')}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  return out.join('\n');
}

export function limitsPage(R: Registries, L: Linker): string {
  const out: string[] = [];
  out.push('<h1>Limits</h1>');
  out.push(
    '<p class="lede">From <code>spec/registry/limits.json</code>: every size and rate in IMSP. Configurable limits may be changed by an operator within the range shown.</p>',
  );
  out.push(
    '<table><thead><tr><th>Limit</th><th>Default</th><th>Unit</th><th>Configurable</th><th>Requirement</th><th>Meaning</th></tr></thead><tbody>',
  );
  for (const l of R.limits.limits) {
    const range = l.configurable
      ? `yes${l.min !== undefined || l.max !== undefined ? ` (${l.min ?? ''} to ${l.max ?? ''})` : ''}`
      : 'no';
    out.push(
      `<tr id="${limitAnchor(l.name)}"><td><code>${e(l.name)}</code></td><td class="num">${e(String(l.value))}</td><td>${e(l.unit ?? '')}</td><td>${range}</td><td>${reqLink(l.req, L)}</td><td>${e(l.text ?? '')}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Grammar

export interface GrammarRule {
  name: string;
  /** The banner of the group the rule opens ("// ---- start line [WIRE-4]"), if any. */
  group: string | null;
  display: string | null;
  /** Comment lines directly above the rule, without the comment markers. */
  doc: string;
  code: string;
}

export interface ParsedGrammar {
  /** The prose header: the leading comment block, without comment markers. */
  header: string;
  /** Initializer code blocks ({{ }} and { }) between the header and the first rule. */
  preamble: string;
  rules: GrammarRule[];
}

const RULE_START = /^([A-Za-z_][A-Za-z0-9_]*)\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')?\s*(?:=|$)/;

function uncomment(lines: readonly string[]): string {
  return lines.map((l) => l.replace(/^\s*\/\/ ?/, '')).join('\n');
}

/** Splits a peggy grammar into its prose header, its initializers and its rules (with the comments above each). */
export function parseGrammar(text: string): ParsedGrammar {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  const headerLines: string[] = [];
  while (i < lines.length && /^\s*\/\//.test(lines[i])) headerLines.push(lines[i++]);
  const rules: GrammarRule[] = [];
  let pending: string[] = []; // comment lines waiting for the next rule
  let preamble: string[] = [];
  let cur: { name: string; group: string | null; display: string | null; doc: string; code: string[] } | null = null;
  let group: string | null = null;
  const flush = (): void => {
    if (!cur) return;
    // Trailing blank lines and a trailing comment block belong to the next rule.
    while (cur.code.length > 0 && cur.code[cur.code.length - 1].trim() === '') cur.code.pop();
    rules.push({ name: cur.name, group: cur.group, display: cur.display, doc: cur.doc, code: cur.code.join('\n') });
    cur = null;
  };
  for (; i < lines.length; i++) {
    const line = lines[i];
    const start = RULE_START.exec(line);
    const nextIsEq = start && !/=/.test(line.slice(start[0].length - 1)) ? /^\s*=/.test(lines[i + 1] ?? '') : true;
    if (start && nextIsEq && !/^\s/.test(line)) {
      flush();
      cur = {
        name: start[1],
        group,
        display: start[2] ?? start[3] ?? null,
        doc: uncomment(pending).trim(),
        code: [line],
      };
      group = null;
      pending = [];
      continue;
    }
    if (/^\/\//.test(line)) {
      // A column-0 comment: documentation of the next rule; a banner ("// ---- title") opens a group.
      if (cur) flush();
      const banner = /^\/\/\s*[-=*]{4,}\s*(.*?)\s*[-=*]*\s*$/.exec(line);
      if (banner) {
        if (pending.length > 0) preamble.push(...pending);
        pending = [];
        group = banner[1] || null;
      } else pending.push(line);
      continue;
    }
    if (cur) {
      if (line.trim() === '' && pending.length === 0) cur.code.push(line);
      else cur.code.push(line);
    } else {
      if (pending.length > 0 && line.trim() !== '') {
        preamble.push(...pending);
        pending = [];
      }
      preamble.push(line);
    }
  }
  flush();
  preamble = preamble.filter((l, k, a) => !(l.trim() === '' && (k === 0 || a[k - 1].trim() === '')));
  return { header: uncomment(headerLines).trim(), preamble: preamble.join('\n').trim(), rules };
}

function linkGrammarCode(code: string, names: Set<string>, L: Linker): string {
  // Escape, then link rule references (identifiers outside strings/classes) and requirement IDs.
  const tokens = code.split(/("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|\[(?:[^\]\\\n]|\\.)*\]|\/\/[^\n]*)/);
  return tokens
    .map((t, k) => {
      if (k % 2 === 1) {
        if (t.startsWith('//') || t.startsWith('[')) return linkReqs(e(t), L);
        return e(t);
      }
      // Rule references link to their rule; labels ("name:" before an expression) and JavaScript do not.
      return e(t).replace(/\b([A-Za-z_][A-Za-z0-9_]*)\b(?!:[^:])/g, (w) =>
        names.has(w) ? `<a href="#${ruleAnchor(w)}">${w}</a>` : w,
      );
    })
    .join('');
}

function linkReqs(escaped: string, L: Linker): string {
  return escaped.replace(/\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+)\]/g, (whole, id: string) =>
    L.knownReq(id) ? `<a class="req-ref" href="${L.req(id)}">[${id}]</a>` : whole,
  );
}

/** Paragraphs of a comment block: blank lines separate; indented or list lines stay preformatted. */
function proseHtml(text: string, L: Linker): string {
  const blocks = text.split(/\n\s*\n/);
  return blocks
    .map((b) => {
      const lines = b.split('\n');
      if (lines.some((l) => /^\s{2,}\S|^\s*-\s/.test(l))) return `<pre class="prose">${linkReqs(e(b), L)}</pre>`;
      return `<p>${linkReqs(inlineCode(b.replace(/\s*\n\s*/g, ' ')), L)}</p>`;
    })
    .join('\n');
}

export function grammarPage(text: string | null, L: Linker, abnf: string | null = null): string {
  const out: string[] = ['<h1>Grammar</h1>'];
  if (text === null) {
    out.push('<p class="missing">grammar/imsp.peggy does not exist yet.</p>');
    return out.join('\n');
  }
  const g = parseGrammar(text);
  const names = new Set(g.rules.map((r) => r.name));
  out.push(
    '<p class="lede">The wire syntax of IMSP: first in ABNF (RFC 5234), then as its source, <code>grammar/imsp.peggy</code> (peggy), rule by rule. The peggy grammar is the source of truth for the syntax; <code>make generate</code> derives the codec and the ABNF from it.</p>',
  );
  if (abnf !== null) out.push(abnfSection(abnf));
  out.push('<section id="grammar-header"><h2>About this grammar</h2>');
  out.push(proseHtml(g.header, L));
  out.push('</section>');
  out.push('<nav class="toc"><h2>Rules</h2><ul class="rules">');
  for (const r of g.rules)
    out.push(
      `<li><a href="#${ruleAnchor(r.name)}"><code>${e(r.name)}</code></a>${r.display ? ` <span class="small">${e(r.display)}</span>` : ''}</li>`,
    );
  out.push('</ul></nav>');
  if (g.preamble)
    out.push(`<h2 id="initializers">Initializers</h2><pre class="grammar"><code>${e(g.preamble)}</code></pre>`);
  for (const r of g.rules) {
    if (r.group) out.push(`<h2 class="group">${linkReqs(e(r.group), L)}</h2>`);
    out.push(`<section class="rule" id="${ruleAnchor(r.name)}">`);
    out.push(
      `<h3><code>${e(r.name)}</code>${r.display ? ` <span class="kind">${e(r.display)}</span>` : ''} <a class="self" href="#${ruleAnchor(r.name)}" aria-label="Link to rule ${e(r.name)}">&para;</a></h3>`,
    );
    if (r.doc) out.push(proseHtml(r.doc, L));
    out.push(`<pre class="grammar"><code>${linkGrammarCode(r.code, names, L)}</code></pre>`);
    out.push('</section>');
  }
  return out.join('\n');
}

/** The ABNF of generated/imsp.abnf, each rule anchored (#abnf-name) and each reference linked. */
export function abnfSection(abnf: string): string {
  const body = abnf.replace(/^; Generated by[^\n]*\n/, '');
  const defined = new Set([...body.matchAll(/^([A-Za-z][A-Za-z0-9-]*) =/gm)].map((m) => m[1].toLowerCase()));
  const CORE = new Set(['crlf', 'digit', 'sp', 'wsp', 'htab']);
  const lines = body.split('\n').map((line) => {
    if (line.startsWith(';')) return `<span class="comment">${e(line)}</span>`;
    const def = /^([A-Za-z][A-Za-z0-9-]*)( = )(.*)$/.exec(line);
    const linkRefs = (s: string): string =>
      e(s).replace(/(?<![%\w"-])([A-Za-z][A-Za-z0-9-]*)(?![\w-])/g, (name: string) => {
        const k = name.toLowerCase();
        if (defined.has(k)) return `<a href="#abnf-${k}">${name}</a>`;
        if (CORE.has(k)) return `<a href="#abnf-${k}" title="RFC 5234 core rule">${name}</a>`;
        return name;
      });
    if (!def) return linkRefs(line);
    return `<span id="abnf-${def[1].toLowerCase()}"><strong>${e(def[1])}</strong></span>${def[2]}${linkRefs(def[3])}`;
  });
  return [
    '<section id="abnf"><h2>ABNF</h2>',
    '<p>Generated from the peggy grammar by <code>grammar/codegen/gen-abnf.ts</code> (<code>generated/imsp.abnf</code>). Error alternatives and lookaheads of the peggy source are not syntax and are left out; a test turns this ABNF back into a parser with an independent ABNF implementation and proves it accepts exactly what the peggy grammar accepts, on every wire fixture and on generated input.</p>',
    `<pre class="grammar abnf"><code>${lines.join('\n')}</code></pre>`,
    '<p>The core rules it uses, as RFC 5234 Appendix B.1 defines them:</p>',
    '<pre class="grammar abnf"><code>' +
      [
        ['CRLF', '%x0D.0A', 'Internet standard newline'],
        ['DIGIT', '%x30-39', '0-9'],
        ['HTAB', '%x09', 'horizontal tab'],
        ['SP', '%x20', 'space'],
        ['WSP', '<a href="#abnf-sp">SP</a> / <a href="#abnf-htab">HTAB</a>', 'white space'],
      ]
        .map(
          ([n, def, note]) =>
            `<span id="abnf-${n.toLowerCase()}"><strong>${n}</strong></span> = ${def} <span class="comment">; ${note}</span>`,
        )
        .join('\n') +
      '</code></pre>',
    '</section>',
    '<h2 id="peggy-source">The source, rule by rule (peggy)</h2>',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// State machines

export interface MachineDef {
  name: string;
  title?: string;
  section?: string;
  viewpoint?: string;
  $comment?: string;
  states: Array<{ name: string; text?: string }>;
  initial?: string;
  events?: Array<{ name: string; text?: string }>;
  guards?: Array<{ name: string; text?: string }>;
  transitions: Array<{
    name?: string;
    from: string | string[];
    event: string | string[];
    guard?: string | string[];
    to: string;
    actions?: string[];
    reqs?: string[];
  }>;
}

/** A list-or-single field of a machine definition as a list. */
const many = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)];

/** A mermaid stateDiagram-v2 of a machine, used when generated/diagrams/<name>.mmd is absent. */
export function machineMermaid(m: MachineDef): string {
  const id = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_');
  const lines = ['stateDiagram-v2'];
  for (const s of m.states) if (id(s.name) !== s.name) lines.push(`  state "${s.name}" as ${id(s.name)}`);
  if (m.initial) lines.push(`  [*] --> ${id(m.initial)}`);
  const seen = new Set<string>();
  for (const t of m.transitions) {
    const guard = many(t.guard).join(', ');
    const label = `${many(t.event).join(' / ')}${guard ? ` [${guard}]` : ''}`.replace(/[:;#]/g, ' ');
    for (const from of many(t.from)) {
      const key = `${from}|${t.to}|${label}`;
      if (seen.has(key)) continue;
      seen.add(key);
      lines.push(`  ${id(from)} --> ${id(t.to)}: ${label}`);
    }
  }
  return lines.join('\n');
}

const codes = (v: string | string[] | undefined): string =>
  many(v)
    .map((x) => `<code>${e(x)}</code>`)
    .join(' ');

export function machineSection(m: MachineDef, figure: string, L: Linker): string {
  const out: string[] = [];
  const a = machineAnchor(m.name);
  out.push(`<section class="machine" id="${a}">`);
  out.push(
    `<h2>${e(m.title ?? m.name)} <a class="self" href="#${a}" aria-label="Link to ${e(m.name)}">&para;</a></h2>`,
  );
  const facts: string[] = [`Machine <code>${e(m.name)}</code>`];
  if (m.viewpoint) facts.push(`as the ${e(role(m.viewpoint))} sees it`);
  const sec = m.section ? L.section(m.section) : null;
  if (m.section)
    facts.push(sec ? `specified in <a href="${sec}">Section ${e(m.section)}</a>` : `Section ${e(m.section)}`);
  if (m.initial) facts.push(`initial state <code>${e(m.initial)}</code>`);
  out.push(`<p class="facts">${facts.join(', ')}.</p>`);
  if (m.$comment) out.push(`<p>${e(m.$comment)}</p>`);
  out.push(figure);
  out.push('<table class="compact"><thead><tr><th>State</th><th>Meaning</th></tr></thead><tbody>');
  for (const s of m.states)
    out.push(`<tr id="${a}-state-${e(s.name)}"><td><code>${e(s.name)}</code></td><td>${e(s.text ?? '')}</td></tr>`);
  out.push('</tbody></table>');
  if (m.events && m.events.length > 0) {
    out.push('<table class="compact"><thead><tr><th>Event</th><th>Meaning</th></tr></thead><tbody>');
    for (const ev of m.events) out.push(`<tr><td><code>${e(ev.name)}</code></td><td>${e(ev.text ?? '')}</td></tr>`);
    out.push('</tbody></table>');
  }
  if (m.guards && m.guards.length > 0) {
    out.push('<table class="compact"><thead><tr><th>Guard</th><th>Holds when</th></tr></thead><tbody>');
    for (const g of m.guards) out.push(`<tr><td><code>${e(g.name)}</code></td><td>${e(g.text ?? '')}</td></tr>`);
    out.push('</tbody></table>');
  }
  out.push(
    '<table class="transitions"><thead><tr><th>Transition</th><th>From</th><th>Event</th><th>Guard</th><th>To</th><th>Actions</th><th>Requirements</th></tr></thead><tbody>',
  );
  for (const t of m.transitions) {
    out.push(
      `<tr><td>${t.name ? `<code>${e(String(t.name))}</code>` : ''}</td><td>${codes(t.from)}</td><td>${codes(t.event)}</td><td>${codes(t.guard)}</td><td>${codes(t.to)}</td><td>${many(
        t.actions,
      )
        .map((a) => e(a))
        .join('; ')}</td><td>${(t.reqs ?? []).map((r) => reqLink(r, L)).join(' ')}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  out.push('</section>');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Requirement index

/** Escapes a sentence and shows its `code` spans as code. */
export function inlineCode(s: string): string {
  return e(s).replace(/`([^`]+)`/g, '<code>$1</code>');
}

export function requirementsPage(report: Report, L: Linker, notes: string[]): string {
  const c = report.counts;
  const out: string[] = [];
  out.push('<h1>Requirement index</h1>');
  out.push(
    '<p class="lede">Every requirement of the specification, in ID order: its level, sentence, the conformance-kit cases that check it (a case declares the ID in its <code>reqs</code>), the tests that check it (a test whose <em>name</em> cites the ID under <code>test/</code>), or the reason no wire peer can observe it (<code>spec/exceptions.json</code>), and where the reference implementation (<code>reference/</code>) cites it in the code that enforces it. <code>make requirements</code> prints the same report; <code>make requirements-check</code> fails when a wire requirement of a role has no kit case for that role.</p>',
  );
  const mustTested = report.rows.filter((r) => r.req.level === 'MUST' && r.coverage === 'tested').length;
  out.push(
    `<p class="summary"><strong>${c.total}</strong> requirements: ${c.must} MUST, ${c.should} SHOULD, ${c.may} MAY${c.info ? `, ${c.info} without a keyword` : ''}. ` +
      `<strong>${c.tested}</strong> checked (${report.rows.filter((r) => r.kit.length > 0).length} by a kit case, ${report.rows.filter((r) => r.citations.length > 0).length} by a named test), ${c.untested} not observable on the wire, ${c.none} with neither yet. ` +
      `MUSTs tested: ${mustTested} of ${c.must}; <a href="#musts-without-test">MUSTs with no test: ${report.mustsWithoutTest.length}</a>.</p>`,
  );
  for (const n of notes) out.push(`<p class="note">${e(n)}</p>`);
  // A filter for readers (the table works without it).
  out.push(
    '<form class="filter" role="search" onsubmit="return false"><label>Filter <input id="req-filter" type="search" placeholder="ID, word, file&hellip;" autocomplete="off"></label> ' +
      '<label><input id="req-must-open" type="checkbox"> only MUSTs with no test</label> <span id="req-count" class="small"></span></form>',
  );

  out.push(
    '<table class="reqs"><thead><tr><th>ID</th><th>Level</th><th>Section</th><th>Requirement</th><th>Kit cases and tests</th></tr></thead><tbody>',
  );
  const natural = (a: string, b: string): number => {
    const pa = /^(.*)-(\d+)$/.exec(a);
    const pb = /^(.*)-(\d+)$/.exec(b);
    if (!pa || !pb) return a.localeCompare(b);
    return pa[1] === pb[1] ? Number(pa[2]) - Number(pb[2]) : pa[1]!.localeCompare(pb[1]!);
  };
  const sorted = [...report.rows].sort((a, b) => natural(a.req.id, b.req.id));
  const caseAnchor = (id: string): string => `case-${id.replace(/[^a-z0-9]+/gi, '-')}`;
  const testAnchor = (file: string, line: number): string => `test-${file.replace(/[^a-z0-9]+/gi, '-')}-${line}`;
  for (const row of sorted) {
    const r = row.req;
    const sentenceHref = `${r.page}#${reqAnchor(r.id)}`;
    const secHref = `${r.page}#${r.sectionAnchor}`;
    let tests: string;
    if (row.coverage === 'tested') {
      tests =
        (row.kit.length
          ? `<ul class="cites kit">${row.kit.map((k) => `<li><a href="#${caseAnchor(k.id)}">kit ${e(k.id)}</a></li>`).join('')}</ul>`
          : '') +
        (row.citations.length
          ? `<ul class="cites">${row.citations.map((ci) => `<li><a href="#${testAnchor(ci.file, ci.line)}"><code>${e(ci.file)}:${ci.line}</code></a></li>`).join('')}</ul>`
          : '');
    } else if (row.coverage === 'untested') {
      tests = `<span class="untested">not observable on the wire: ${e(row.reason ?? '')}</span>`;
    } else {
      tests = '<span class="notest">no kit case or test yet</span>';
    }
    if (row.code.length > 0) {
      tests += `<details class="code"><summary>enforced in ${row.code.length} place${row.code.length === 1 ? '' : 's'}</summary><ul class="cites">${row.code
        .map((ci) => `<li><code>${e(ci.file)}:${ci.line}</code></li>`)
        .join('')}</ul></details>`;
    }
    out.push(
      `<tr id="${reqAnchor(r.id)}" class="cov-${row.coverage} lvl-${r.level.toLowerCase()}"><td><a href="${sentenceHref}"><code>${e(r.id)}</code></a></td><td><span class="level">${r.level}</span></td><td><a href="${secHref}">${e(r.section)}</a></td><td>${inlineCode(r.sentence)}</td><td>${tests}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  out.push(`<script>
(() => {
  const input = document.getElementById('req-filter');
  const open = document.getElementById('req-must-open');
  const count = document.getElementById('req-count');
  const rows = [...document.querySelectorAll('table.reqs tbody tr')];
  const apply = () => {
    const q = input.value.trim().toLowerCase();
    let shown = 0;
    for (const tr of rows) {
      const ok = (!q || tr.textContent.toLowerCase().includes(q)) && (!open.checked || (tr.classList.contains('lvl-must') && tr.classList.contains('cov-none')));
      tr.hidden = !ok;
      if (ok) shown++;
    }
    count.textContent = shown + ' of ' + rows.length + ' shown';
  };
  input.addEventListener('input', apply);
  open.addEventListener('change', apply);
  apply();
})();
</script>`);
  // The link targets: every kit case and every named test, with what it is.
  const cases = new Map<string, { role: string; id: string; title: string; file: string; reqs: string[] }>();
  const named = new Map<string, { file: string; line: number; reqs: string[] }>();
  for (const row of sorted) {
    for (const k of row.kit) {
      const c = cases.get(k.id) ?? { ...k, reqs: [] };
      c.reqs.push(row.req.id);
      cases.set(k.id, c);
    }
    for (const ci of row.citations) {
      const key = testAnchor(ci.file, ci.line);
      const t = named.get(key) ?? { file: ci.file, line: ci.line, reqs: [] };
      t.reqs.push(row.req.id);
      named.set(key, t);
    }
  }
  const reqLinks = (ids: string[]): string =>
    ids.map((id) => `<a href="#${reqAnchor(id)}"><code>${e(id)}</code></a>`).join(' ');
  out.push(
    `<h2 id="kit-cases">Conformance-kit cases (${cases.size}) <a class="self" href="#kit-cases" aria-label="Link to this list">&para;</a></h2>`,
  );
  out.push(
    '<table class="kit-cases"><thead><tr><th>Case</th><th>Role</th><th>Checks</th><th>Module</th><th>Requirements</th></tr></thead><tbody>',
  );
  for (const c of [...cases.values()].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }))) {
    out.push(
      `<tr id="${caseAnchor(c.id)}"><td><code>${e(c.id)}</code></td><td>${e(c.role)}</td><td>${e(c.title)}</td><td><code>${e(c.file)}</code></td><td>${reqLinks(c.reqs)}</td></tr>`,
    );
  }
  out.push('</tbody></table>');
  out.push(
    `<h2 id="named-tests">Tests that name a requirement (${named.size}) <a class="self" href="#named-tests" aria-label="Link to this list">&para;</a></h2>`,
  );
  out.push('<table class="named-tests"><thead><tr><th>Test</th><th>Requirements</th></tr></thead><tbody>');
  for (const [key, t] of [...named.entries()].sort((a, b) => a[0].localeCompare(b[0], 'en', { numeric: true }))) {
    out.push(`<tr id="${key}"><td><code>${e(t.file)}:${t.line}</code></td><td>${reqLinks(t.reqs)}</td></tr>`);
  }
  out.push('</tbody></table>');
  out.push(
    `<h2 id="musts-without-test">MUSTs with no test (${report.mustsWithoutTest.length}) <a class="self" href="#musts-without-test" aria-label="Link to this list">&para;</a></h2>`,
  );
  if (report.mustsWithoutTest.length === 0) out.push('<p>None.</p>');
  else
    out.push(
      `<ul class="columns">${report.mustsWithoutTest.map((r) => `<li><a href="#${reqAnchor(r.req.id)}"><code>${e(r.req.id)}</code></a></li>`).join('')}</ul>`,
    );
  if (report.unknownCited.length > 0) {
    out.push(
      `<h2 id="unknown-cited">IDs cited by tests but not defined in the text (${report.unknownCited.length})</h2>`,
    );
    out.push('<table class="compact"><thead><tr><th>ID</th><th>Cited at</th></tr></thead><tbody>');
    for (const u of report.unknownCited)
      out.push(
        `<tr><td><code>${e(u.id)}</code></td><td>${u.citations.map((ci) => `<code>${e(ci.file)}:${ci.line}</code>`).join(' ')}</td></tr>`,
      );
    out.push('</tbody></table>');
  }
  if (report.unknownUntested.length > 0) {
    out.push(
      `<h2 id="unknown-untested">IDs in spec/exceptions.json not defined in the text</h2><p>${report.unknownUntested.map((id) => `<code>${e(id)}</code>`).join(' ')}</p>`,
    );
  }
  return out.join('\n');
}
