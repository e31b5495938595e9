// Child process of test/codec/pretenure.test.ts. Run with --allow-natives-syntax, a young generation of
// fixed size (every scavenge then counts as one at the maximum size, the kind after which V8 decides to
// pretenure an allocation site) and no automatic optimization. It decodes many messages in one push
// unoptimized (V8 counts allocation mementos there) so that scavenges inside the push find every header
// line allocated since the last one still alive, then optimizes the fast path and reports where a
// message decoded by it was allocated: `young` for each object, as %InYoungGeneration says. `canary`
// does the same with a plain array literal, to show that this run did make V8 pretenure such a site
// (false), so that the decoder's `true`s mean something.
import { Decoder, encode, request } from '../../codec/index.js';

type Native = (f: unknown) => unknown;
const native = (body: string): Native => new Function('f', body) as Native;
const inYoung = native('return %InYoungGeneration(f)');
const prepare = native('%PrepareFunctionForOptimization(f)');
const optimizeOnNextCall = native('%OptimizeFunctionOnNextCall(f)');

const presence = (i: number): Buffer =>
  encode(request('PRESENCE', { User: `user${i}`, Status: 'online', Address: '10.1.2.3:7200' }));
const proto = Decoder.prototype as unknown as Record<'push' | 'step' | 'fastMessage', unknown>;
const decoding = [proto.push, proto.step, proto.fastMessage];
for (const f of decoding) prepare(f);
// The canary: a [name, value] literal made as the decoder made its header lines before the fix.
const literalPair = (v: string): [string, string] => ['User', v];
const literalPairs = (n: number): [string, string][] => Array.from({ length: n }, (_, i) => literalPair(`u${i}`));
prepare(literalPair);
for (let r = 0; r < 3; r++) literalPairs(20000);
optimizeOnNextCall(literalPair);
const canary = inYoung(literalPair('u'));

const many = Buffer.concat(Array.from({ length: Number(process.argv[2] ?? 4000) }, (_, i) => presence(i)));
for (let r = 0; r < 3; r++) new Decoder().push(many);
for (const f of decoding) optimizeOnNextCall(f);
const out = new Decoder().push(presence(1));
const m = out[0];
if (!m) throw new Error('no message decoded');
process.stdout.write(
  `${JSON.stringify({ canary, messages: inYoung(out), message: inYoung(m), headers: inYoung(m.headers), header: inYoung(m.headers[0]), value: inYoung(m.headers[0]![1]) })}\n`,
);
