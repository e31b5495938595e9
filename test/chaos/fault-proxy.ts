// A loopback TCP proxy the fault campaign controls (issue 14, `make chaos`). It stands between an MS
// and the CRS (a partition) or between the clients and an MS (client links cut):
// - `partition()`: every byte in either direction is dropped from now on, on the connections it
//   carries and on new ones (accepted, then silent): the two ends see a link that went quiet, as on a
//   network partition, not a closed one. `heal()` destroys the connections of the partition (their
//   bytes were lost, so they cannot go on: [SEAL-3] would refuse the gap) and forwards new ones again.
// - `cut()`: every connection it carries is destroyed at once (both ends see a reset or a close).
// - `retarget()`: new connections go to another address (an MS restarted on a new port).
// Loopback only; close() stops the listener and every connection.
import { connect, createServer, type Server, type Socket } from 'node:net';

interface Carried {
  client: Socket;
  upstream: Socket;
  /** Carried while partitioned: destroyed at heal. */
  silent: boolean;
}

export class FaultProxy {
  private readonly carried = new Set<Carried>();
  private partitioned = false;
  private closed = false;

  private constructor(
    private readonly server: Server,
    /** `127.0.0.1:port` to connect to instead of the target. */
    readonly address: string,
    private target: string,
  ) {}

  static async start(target: string): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = createServer((client) => {
      if (!proxy || proxy.closed) client.destroy();
      else proxy.carry(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const a = server.address();
    if (a === null || typeof a === 'string') throw new Error('fault proxy: no address');
    proxy = new FaultProxy(server, `127.0.0.1:${a.port}`, target);
    return proxy;
  }

  get isPartitioned(): boolean {
    return this.partitioned;
  }

  /** Connections carried now. */
  get connections(): number {
    return this.carried.size;
  }

  retarget(target: string): void {
    this.target = target;
  }

  partition(): void {
    this.partitioned = true;
    for (const c of this.carried) c.silent = true;
  }

  heal(): void {
    this.partitioned = false;
    for (const c of [...this.carried]) if (c.silent) this.destroy(c);
  }

  /** Destroys every connection carried now; returns how many. */
  cut(): number {
    const n = this.carried.size;
    for (const c of [...this.carried]) this.destroy(c);
    return n;
  }

  private destroy(c: Carried): void {
    this.carried.delete(c);
    c.client.destroy();
    c.upstream.destroy();
  }

  private carry(client: Socket): void {
    const i = this.target.lastIndexOf(':');
    const upstream = connect({ host: this.target.slice(0, i), port: Number(this.target.slice(i + 1)) });
    const c: Carried = { client, upstream, silent: this.partitioned };
    this.carried.add(c);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (chunk: Buffer) => {
      if (!c.silent) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!c.silent) client.write(chunk);
    });
    // A close on one side reaches the other, unless the link is partitioned (nothing gets through).
    const closeBoth = (): void => {
      if (c.silent && this.carried.has(c)) return;
      this.destroy(c);
    };
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    client.on('end', closeBoth);
    upstream.on('end', closeBoth);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of [...this.carried]) this.destroy(c);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
