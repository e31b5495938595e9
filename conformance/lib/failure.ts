// What ends a case early: a broken MUST (Failure) or a configuration that cannot test it (Skip). A leaf
// module (case.ts re-exports both), so that what the kit's connections import can throw a Failure too.

/**
 * A value the kit refused as a receiver of the spec would (a base64url value not spelled canonically
 * [CRYPTO-4]): the field and where it came, and the status, code and reason the receiver answers.
 */
export interface Refusal {
  field: string;
  where: string;
  status: number;
  code: string;
  reason: string;
}

/** A broken MUST: the case fails, naming the requirement (and, for a refused value, the refusal). */
export class Failure extends Error {
  refusal?: Refusal;
  constructor(
    readonly req: string,
    message: string,
  ) {
    super(message);
  }
}

/** The case cannot run in this configuration. */
export class Skip extends Error {}
