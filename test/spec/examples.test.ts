// The example messages of the specification text are real messages: they decode with the generated
// codec, and those shown whole validate against the registry for their link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, validate, type Role } from '../../codec/index.js';
import { specText } from './helpers.js';

interface Example {
  file: string;
  lines: string[];
}

/** Fenced blocks (no language) whose first line is a method and whose next lines are headers. */
function examples(): Example[] {
  const out: Example[] = [];
  for (const { file, text } of specText()) {
    let block: string[] | null = null;
    for (const line of text.split('\n')) {
      if (block === null) {
        if (line === '```') block = [];
        else if (line.startsWith('```')) block = ['<other language>'];
        continue;
      }
      if (line !== '```') {
        block.push(line);
        continue;
      }
      if (/^[A-Z][A-Z0-9-]*$/.test(block[0] ?? '') && /^[A-Za-z0-9-]+: /.test(block[1] ?? ''))
        out.push({ file, lines: block });
      block = null;
    }
  }
  return out;
}

const LINKS: Record<string, { from: Role; to: Role }> = { LOGIN: { from: 'client', to: 'ms' } };

test('[WIRE-1] every example message in the text decodes (a body placeholder stands for Content-length octets)', () => {
  const found = examples();
  assert.ok(found.length >= 3, `${found.length} examples`);
  for (const { file, lines } of found) {
    const blank = lines.indexOf('');
    const headLines = blank < 0 ? lines : lines.slice(0, blank);
    const cl = headLines.find((l) => /^Content-length:/i.test(l));
    const body = Buffer.alloc(cl ? Number(cl.split(':')[1].trim()) : 0);
    const wire = Buffer.concat([Buffer.from(headLines.map((l) => `${l}\r\n`).join('') + '\r\n', 'latin1'), body]);
    const msgs = decode(wire);
    assert.equal(msgs.length, 1, `${file}: ${lines[0]}`);
    const link = LINKS[lines[0]];
    if (link)
      assert.equal(validate(msgs[0], link), null, `${file}: ${lines[0]} validates on ${link.from} -> ${link.to}`);
  }
});
