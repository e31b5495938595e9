// Two or more reference clients with injected contact books and no servers: the peer-to-peer layer
// on its own. Also a raw "attacker" peer that speaks INIT and SEALED by hand.
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { anyHeader, Decoder, encode, type Message } from '../../codec/index.js';
import { generateIdentity, type Identity } from '../../reference/crypto/keys.js';
import { openEnvelope, sealEnvelope } from '../../reference/crypto/sealed.js';
import { ImspClient, parseHostPort, type ClientLimits } from '../../reference/client/client.js';
import type { Header } from '../../reference/client/contacts.js';
import type { ClientEvents } from '../../reference/client/events.js';

export interface Peer {
  name: string;
  identity: Identity;
  client: ImspClient;
  dir: string;
}

export async function makePeer(name: string, limits: Partial<ClientLimits> = {}): Promise<Peer> {
  const identity = generateIdentity();
  const dir = await mkdtemp(join(tmpdir(), `imsp-p2p-${name}-`));
  const client = new ImspClient({ user: name, password: 'unused', downloadDir: dir, limits });
  await client.startPeers(identity);
  return { name, identity, client, dir };
}

export async function closePeers(...peers: Peer[]): Promise<void> {
  for (const p of peers) {
    await p.client.close();
    await rm(p.dir, { recursive: true, force: true });
  }
}

export function contactRecord(
  p: { name: string; identity: Identity; client?: ImspClient },
  relation = 'buddy',
  address?: string,
): Header[] {
  const r: Header[] = [
    ['User', p.name],
    ['Relation', relation],
    ['Status', 'online'],
  ];
  const addr = address ?? p.client?.address;
  if (addr) r.push(['Address', addr]);
  r.push(['Public-key', p.identity.publicKey]);
  return r;
}

/** Makes each pair in `pairs` buddies in both books. */
export function befriend(...peers: Peer[]): void {
  for (const p of peers) p.client.contacts.load(peers.filter((q) => q !== p).map((q) => contactRecord(q)));
}

/** Resolves with the next `name` event that passes `pred`. */
export function next<K extends keyof ClientEvents>(
  c: ImspClient,
  name: K,
  pred: (e: ClientEvents[K][0]) => boolean = () => true,
): Promise<ClientEvents[K][0]> {
  return new Promise((resolve) => {
    const f = (e: ClientEvents[K][0]) => {
      if (!pred(e)) return;
      c.off(name, f as never);
      resolve(e);
    };
    c.on(name, f as never);
  });
}

/** A hand-driven TCP peer: writes raw octets, reads decoded messages, can open SEALED envelopes. */
export class RawPeer {
  private readonly decoder = new Decoder();
  private readonly queue: Message[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  raw = Buffer.alloc(0);
  private constructor(readonly socket: Socket) {
    socket.on('data', (b: Buffer) => {
      this.raw = Buffer.concat([this.raw, b]);
      for (const m of this.decoder.push(b)) this.queue.push(m);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  /** Wraps an accepted socket (a hand-driven responder). */
  static wrap(socket: Socket): RawPeer {
    return new RawPeer(socket);
  }
  static async connect(addr: string): Promise<RawPeer> {
    const { host, port } = parseHostPort(addr);
    const s = connect({ host, port });
    await once(s, 'connect');
    return new RawPeer(s);
  }
  write(b: Buffer | Message): void {
    this.socket.write(Buffer.isBuffer(b) ? b : encode(b));
  }
  /** The next message, or undefined once the connection closed with nothing more queued. */
  async read(): Promise<Message | undefined> {
    for (;;) {
      const m = this.queue.shift();
      if (m) return m;
      if (this.closed) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
  async closedPromise(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }
  sealed(key: Buffer, seq: number, inner: Message): Buffer {
    return encode({
      kind: 'request',
      method: 'SEALED',
      headers: [['Seq', String(seq)]],
      body: sealEnvelope(key, seq, encode(inner)),
    });
  }
  /** The records of one envelope ([§6.4 The SEALED Envelope]: one or more messages) [SEAL-5]. */
  static openAll(key: Buffer, env: Message): Message[] {
    if (env.kind !== 'request' || env.method !== 'SEALED')
      throw new Error(`expected SEALED, got ${env.kind === 'request' ? env.method : env.status}`);
    const d = new Decoder();
    const plain = openEnvelope(key, Number(anyHeader(env, 'Seq')), env.body);
    return d.push(plain);
  }
  private records: Message[] = [];
  private nextSeq = 0;
  /**
   * The next sealed record: the next envelope is opened when the last one's records are used up; its
   * Seq must be the number of records before it [SEAL-5]. A `200 Count: n` is read as n plain 200s
   * [MSG-7]. Undefined once the connection closed.
   */
  async readOpen(key: Buffer): Promise<Message | undefined> {
    while (this.records.length === 0) {
      const env = await this.read();
      if (!env) return undefined;
      if (env.kind === 'response') return env; // an error answered in clear
      if (Number(anyHeader(env, 'Seq')) !== this.nextSeq)
        throw new Error(`SEALED Seq ${anyHeader(env, 'Seq')} where ${this.nextSeq} was due`);
      const recs = RawPeer.openAll(key, env);
      this.nextSeq += recs.length;
      for (const r of recs) {
        const n = r.kind === 'response' ? Number(anyHeader(r, 'Count') ?? '1') : 1;
        for (let i = 0; i < n; i++) this.records.push(r);
      }
    }
    return this.records.shift();
  }
  destroy(): void {
    this.socket.destroy();
  }
}

/** A listening hand-driven peer: each accepted connection is handed over as a RawPeer. */
export async function rawListener(
  onPeer: (p: RawPeer) => void,
): Promise<{ address: string; server: Server; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    onPeer(RawPeer.wrap(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  return {
    address: `127.0.0.1:${a.port}`,
    server,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
