// Requirement anchors that land where the requirement starts.
//
// A requirement's ID closes its sentence ("... MUST be refused [LOGIN-4]."), so an anchor on the
// ID itself scrolls the sentence above the top of the window. This pass moves each defining
// anchor (id="req-ID" on the <a class="req"> that linkify() writes) to an empty <span> at the
// start of the sentence: after the previous sentence's end (". ", "? ", "! ", or the ID and period
// of the requirement before it) or after the opening tag of the enclosing block (p, li, td, dd, ...),
// whichever is nearer. Markup between is skipped as markup; abbreviations ("e.g.", "i.e.") do not
// end a sentence.

const BLOCK_OPEN = /^<(p|li|td|th|dd|dt|blockquote|h[1-6]|div|section|figcaption|br)\b[^>]*>$/i;
const ABBREVIATIONS = ['e.g', 'i.e', 'cf', 'vs', 'etc.)', 'approx'];

/** Index in `html` where the sentence containing position `at` starts. */
export function sentenceStart(html: string, at: number): number {
  let i = at - 1;
  let textEnd = at; // the start of the text scanned so far (candidate answer)
  while (i >= 0) {
    const ch = html[i];
    if (ch === '>') {
      const open = html.lastIndexOf('<', i);
      if (open < 0) return 0;
      const tag = html.slice(open, i + 1);
      if (BLOCK_OPEN.test(tag)) return i + 1;
      if (/^<\/(p|li|td|th|dd|dt|div|section|ul|ol|table|pre|h[1-6])>$/i.test(tag)) return i + 1;
      i = open - 1;
      continue;
    }
    if (/\s/.test(ch) && i > 0) {
      // Whitespace after a sentence end: ". " (with the period possibly after closing markup).
      let j = i - 1;
      while (j >= 0 && html[j] === '>') {
        const open = html.lastIndexOf('<', j);
        if (open < 0 || !/^<\//.test(html.slice(open, j + 1))) break;
        j = open - 1;
      }
      if (j >= 0 && /[.?!:]/.test(html[j]) && !endsWithAbbreviation(html, j)) {
        let k = i + 1;
        while (k < at && /\s/.test(html[k])) k++;
        return k;
      }
    }
    textEnd = i;
    i--;
  }
  return Math.max(0, textEnd);
}

function endsWithAbbreviation(html: string, periodAt: number): boolean {
  if (html[periodAt] !== '.') return false;
  const before = html.slice(Math.max(0, periodAt - 8), periodAt + 1).toLowerCase();
  return ABBREVIATIONS.some((a) => before.endsWith(`${a}.`) || before.endsWith(`(${a}.`));
}

/** Moves every defining requirement anchor of a page to the start of its sentence. */
export function anchorRequirementsAtSentenceStart(html: string): string {
  const re = /<a class="req"( id="(req-[A-Za-z0-9-]+)")/g;
  // Edits as (position, octets removed, text inserted), applied from the end so offsets stay valid.
  const edits: Array<{ at: number; remove: number; insert: string }> = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(html)) !== null) {
    edits.push({ at: m.index + '<a class="req"'.length, remove: m[1].length, insert: '' });
    edits.push({ at: sentenceStart(html, m.index), remove: 0, insert: `<span class="req-start" id="${m[2]}"></span>` });
  }
  edits.sort((a, b) => b.at - a.at);
  let out = html;
  for (const e of edits) out = out.slice(0, e.at) + e.insert + out.slice(e.at + e.remove);
  return out;
}
