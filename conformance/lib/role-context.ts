// What the contexts of the three roles share (issue 16): the run's options and limits, fresh names, the
// connections a case opens (destroyed and their wire violations collected by the driver's cleanup), and the
// registration material of a kit-made user. CrsContext, MsContext and ClientContext extend RoleContext;
// the two whose target is one server address (CRS, MS) extend ServerRoleContext.
import { spawn } from 'node:child_process';
import type { Finding } from './case.js';
import { Conn, type HostPort, type Transcript, type Violation } from './conn.js';
import { b64, makeVerifier, newIdentity, sealKeyBlob, type Identity } from './crypto.js';
import type { Limits } from './registry.js';
import { Checker, type RunOptions } from './runner.js';

/** The part of a role's run environment every context reads. */
export interface RoleEnv {
  opts: RunOptions;
  /** Unique per kit run: keeps names apart from earlier runs against the same target. */
  runId: string;
  counter: number;
}

export abstract class RoleContext<E extends RoleEnv> extends Checker {
  /** Every connection the case opened; the driver's cleanup destroys them ([CONF-12] their violations). */
  readonly conns: Conn[] = [];
  constructor(
    readonly env: E,
    tr: Transcript,
    findings: Finding[],
  ) {
    super(findings, tr);
  }
  get timeout(): number {
    return this.env.opts.timeoutMs;
  }
  get limits(): Limits {
    return this.env.opts.limits;
  }
  get opts(): RunOptions {
    return this.env.opts;
  }
  /**
   * The limit `name` of the run (the target's, as --set gave it), or a SKIP when it is above `bound`
   * and --slow was not given: waiting out or filling a larger limit would make the case slow
   * [§90.5 Running the Kit]. `unit` names what the limit counts in the message.
   */
  limitUpTo(name: string, bound: number, unit = ' ms'): number {
    const v = this.limits.get(name);
    if (v > bound && !this.opts.slow)
      this.skip(`${name} is ${v}${unit}; pass --slow, or --set ${name}=N matching the target`);
    return v;
  }
  /** A fresh name: the prefix, the run id and a counter. */
  uniq(prefix: string): string {
    return `${prefix}${this.env.runId}${(this.env.counter++).toString(36)}`;
  }
  /** A connection to `addr` logged to the case's transcript and closed by the cleanup. */
  protected async open(addr: HostPort, name: string): Promise<Conn> {
    const c = await Conn.connect(addr, name, this.tr, this.timeout);
    this.conns.push(c);
    return c;
  }
}

/** A context whose target is one server address: the CRS under test, or the MS under test. */
export abstract class ServerRoleContext<E extends RoleEnv> extends RoleContext<E> {
  /** The address of the server under test. */
  abstract target(): HostPort;
  /** A connection logged to another transcript (fuzz runs), closed by the caller. */
  async connectWith(tr: Transcript, name: string): Promise<Conn> {
    return Conn.connect(this.target(), name, tr, this.timeout);
  }
  async connect(name = 'c'): Promise<Conn> {
    return this.open(this.target(), `${name}${this.conns.length}`);
  }
}

/** Destroy connections; return the wire violations they recorded (a driver's cleanup). */
export function closeConns(conns: Iterable<Conn>): Violation[] {
  const v: Violation[] = [];
  for (const c of conns) {
    v.push(...c.violations);
    c.destroy();
  }
  return v;
}

/** The registration material of a user the kit makes ([§5.6 REGISTER] headers, or the kit CRS's store). */
export interface UserMaterial {
  identity: Identity;
  publicKey: string;
  keyBlob: string;
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
}

/** A fresh identity, its key blob sealed with `password`, and a SCRAM verifier of 4096 iterations. */
export function userMaterial(name: string, password: string): UserMaterial {
  const identity = newIdentity();
  const v = makeVerifier(password, 4096);
  return {
    identity,
    publicKey: identity.publicKey,
    keyBlob: sealKeyBlob(password, name, identity, 10),
    salt: b64(v.salt),
    iterations: v.iterations,
    storedKey: b64(v.storedKey),
    serverKey: b64(v.serverKey),
  };
}

/**
 * Run a --ms-stop-cmd or --crs-stop-cmd shell command (it stops the server under test on purpose, e.g.
 * kill -TERM PID [§90.5 Running the Kit]); resolves when the command exits, not when the server does.
 */
export function runStopCmd(cmd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, { shell: true, stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
}
