// INIT / INIT-ACK [§10.1 INIT and INIT-ACK] for the kit's peers, on the kit's own crypto.
import { encodeRecords, header, parseRecords, request, type Header, type RequestMessage } from '../../codec/index.js';
import {
  aeadOpen,
  aeadSeal,
  b64,
  ed25519Sign,
  ed25519Verify,
  initAckSigInput,
  initKey,
  initKeyResponder,
  initSigInput,
  nonce18,
  p2pKeys,
  headerOctets,
  parsePublicKey,
  unb64,
  x25519,
  x25519Pair,
  ZERO_IV,
  type Identity,
  type P2pKeys,
} from './crypto.js';
import { randomBytes } from 'node:crypto';

export interface InitState {
  from: string;
  to: string;
  eIPriv: Buffer;
  eI: string;
  nI: string;
  secret: Buffer;
}

export interface InitOptions {
  time?: number;
  /** Sign with this identity instead (a forged signature). */
  signWith?: Identity;
  nI?: string;
}

/** Build an INIT from `from` (with identity `id`) to `to` whose Public-key is `toPublicKey`. */
/** A text MSG from `from` to `to` ([§10.2 MSG]), as a buddy sends it inside a peer session. */
export const textMsg = (from: string, to: string, text: string, extra: Header[] = []): RequestMessage =>
  request(
    'MSG',
    [['From', from], ['To', to], ['Content-type', 'text/plain; charset=utf-8'], ...extra],
    Buffer.from(text),
  );

export function buildInit(
  from: string,
  id: Identity,
  to: string,
  toPublicKey: string,
  o: InitOptions = {},
): { msg: RequestMessage; state: InitState } {
  const pk = parsePublicKey(toPublicKey, "the INIT's addressee");
  if (!pk) throw new Error(`bad Public-key ${toPublicKey}`);
  const eph = x25519Pair();
  const eI = b64(eph.publicKey);
  const nI = o.nI ?? nonce18();
  const secret = randomBytes(32);
  const time = o.time ?? Date.now();
  const sig = ed25519Sign((o.signWith ?? id).signing.privateKey, initSigInput(from, to, time, nI, eI, b64(secret)));
  const rec: Header[] = [
    ['From', from],
    ['To', to],
    ['Time', String(time)],
    ['Secret', b64(secret)],
    ['Signature', b64(sig)],
  ];
  const body = aeadSeal(initKey(eph.privateKey, pk.x, eI, nI), ZERO_IV, 'imsp1 init', encodeRecords([rec]));
  const msg: RequestMessage = {
    kind: 'request',
    method: 'INIT',
    headers: [
      ['Imsp-version', '1'],
      ['Key-share', eI],
      ['Nonce', nI],
      ['Content-length', String(body.length)],
    ],
    body,
  };
  return { msg, state: { from, to, eIPriv: eph.privateKey, eI, nI, secret } };
}

/** The initiator's check of an INIT-ACK: null (with a reason) when it does not verify. */
export function openInitAck(
  st: InitState,
  ack: RequestMessage,
  responderPublicKey: string,
): { keys: P2pKeys } | { error: string } {
  const eR = header(ack, 'Key-share') ?? '';
  const nR = header(ack, 'Nonce') ?? '';
  const eROctets = headerOctets(ack, 'Key-share');
  let keys: P2pKeys;
  try {
    keys = p2pKeys(st.secret, x25519(st.eIPriv, eROctets), st.nI, nR, st.from, st.to);
  } catch {
    return { error: 'bad Key-share in INIT-ACK' };
  }
  const pt = aeadOpen(keys.ack, ZERO_IV, 'imsp1 init-ack', ack.body);
  if (!pt) return { error: 'the INIT-ACK body does not decrypt under okm[64:96]' };
  const recs = parseRecords(pt);
  const r = recs[0] ?? [];
  const g = (n: string): string => r.find(([k]) => k === n)?.[1] ?? '';
  if (g('From') !== st.to || g('To') !== st.from)
    return { error: `INIT-ACK record From/To ${g('From')}/${g('To')}, expected ${st.to}/${st.from}` };
  const pk = parsePublicKey(responderPublicKey, 'the INIT-ACK');
  const sig = unb64(g('Signature'), 'Signature', 'the INIT-ACK body');
  if (!pk || !ed25519Verify(pk.ed, initAckSigInput(g('From'), g('To'), g('Time'), st.nI, nR, st.eI, eR), sig))
    return { error: 'the INIT-ACK signature does not verify' };
  return { keys };
}

export interface OpenedInit {
  from: string;
  to: string;
  time: number;
  eI: string;
  nI: string;
  secret: Buffer;
  signatureOk: boolean;
}

/** The responder's side: decrypt an INIT addressed to `me`, check the signature against `fromPublicKey`. */
export function openInit(
  init: RequestMessage,
  me: Identity,
  publicKeyOf: (user: string) => string | undefined,
): OpenedInit | { error: string } {
  const eI = header(init, 'Key-share') ?? '';
  const nI = header(init, 'Nonce') ?? '';
  const eIOctets = headerOctets(init, 'Key-share');
  let pt: Buffer | null = null;
  try {
    pt = aeadOpen(initKeyResponder(me.agreement.privateKey, eIOctets, eI, nI), ZERO_IV, 'imsp1 init', init.body);
  } catch {
    pt = null;
  }
  if (!pt) return { error: 'the INIT body does not decrypt' };
  const r = parseRecords(pt)[0] ?? [];
  const g = (n: string): string => r.find(([k]) => k === n)?.[1] ?? '';
  const from = g('From');
  const pk = parsePublicKey(publicKeyOf(from) ?? '', 'the INIT');
  const sig = unb64(g('Signature'), 'Signature', 'the INIT body');
  const secret = unb64(g('Secret'), 'Secret', 'the INIT body');
  const signatureOk = !!pk && ed25519Verify(pk.ed, initSigInput(from, g('To'), g('Time'), nI, eI, g('Secret')), sig);
  return { from, to: g('To'), time: Number(g('Time')), eI, nI, secret, signatureOk };
}

/** Build the INIT-ACK for an opened INIT; returns the session keys. */
export function buildInitAck(o: OpenedInit, me: Identity): { msg: RequestMessage; keys: P2pKeys } {
  const eph = x25519Pair();
  const eR = b64(eph.publicKey);
  const nR = nonce18();
  const keys = p2pKeys(o.secret, x25519(eph.privateKey, unb64(o.eI, 'Key-share', 'the INIT')), o.nI, nR, o.from, o.to);
  const time = Date.now();
  const sig = ed25519Sign(me.signing.privateKey, initAckSigInput(o.to, o.from, time, o.nI, nR, o.eI, eR));
  const rec: Header[] = [
    ['From', o.to],
    ['To', o.from],
    ['Time', String(time)],
    ['Signature', b64(sig)],
  ];
  const body = aeadSeal(keys.ack, ZERO_IV, 'imsp1 init-ack', encodeRecords([rec]));
  return {
    msg: {
      kind: 'request',
      method: 'INIT-ACK',
      headers: [
        ['Key-share', eR],
        ['Nonce', nR],
        ['Content-length', String(body.length)],
      ],
      body,
    },
    keys,
  };
}
