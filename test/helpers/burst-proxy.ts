// A TCP proxy that delivers what a server sends in bursts: the bytes that arrive from the server
// within `burstMs` of the first one are held and written to the client together. It models a slow
// or congested link, on which the login bundle and the pushes that follow it reach the client in one
// read ([§9.1.1 Ordering the Login Bundle Against Pushes]: a client must not drop a push that arrives while it opens its key blob). The
// client's own bytes pass at once. Order is kept: the proxy delays, it never reorders ([SEAL-3] would
// refuse a reordered envelope anyway). Loopback only; close() stops the listener and every
// connection it carries.
import { createServer, connect, type Server, type Socket } from 'node:net';

export class BurstProxy {
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    /** `127.0.0.1:port` to connect to instead of the server. */
    readonly address: string,
  ) {}

  /** Listens on 127.0.0.1:0 and forwards each connection to `target` (`host:port`). */
  static async start(target: string, burstMs: number): Promise<BurstProxy> {
    const i = target.lastIndexOf(':');
    const host = target.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(target.slice(i + 1));
    let proxy: BurstProxy | undefined;
    const server = createServer((client) => proxy?.carry(client, host, port, burstMs));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const a = server.address();
    if (a === null || typeof a === 'string') throw new Error('burst proxy: no address');
    proxy = new BurstProxy(server, `127.0.0.1:${a.port}`);
    return proxy;
  }

  private carry(client: Socket, host: string, port: number, burstMs: number): void {
    const upstream = connect({ host, port });
    this.sockets.add(client);
    this.sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    let held: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let upstreamEnded = false;
    const flush = (): void => {
      if (timer) this.timers.delete(timer);
      timer = undefined;
      if (held.length > 0 && !client.destroyed) client.write(Buffer.concat(held));
      held = [];
      if (upstreamEnded) client.end();
    };
    upstream.on('data', (chunk: Buffer) => {
      held.push(chunk);
      if (!timer) {
        timer = setTimeout(flush, burstMs);
        this.timers.add(timer);
      }
    });
    upstream.on('end', () => {
      upstreamEnded = true;
      if (!timer) flush();
    });
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    client.on('end', () => upstream.end());
    const drop = (s: Socket): void => {
      this.sockets.delete(s);
    };
    client.on('close', () => {
      drop(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      drop(upstream);
      // A server that vanished (killed): what it sent still goes out, then the client sees the end.
      upstreamEnded = true;
      if (!timer) client.end();
    });
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
