// What ends a case early: a broken MUST (Failure) or a configuration that cannot test it (Skip). A leaf
// module (case.ts re-exports both), so that what the kit's connections import can throw a Failure too.

/** A broken MUST: the case fails, naming the requirement. */
export class Failure extends Error {
  constructor(
    readonly req: string,
    message: string,
  ) {
    super(message);
  }
}

/** The case cannot run in this configuration. */
export class Skip extends Error {}
