// The method names of one link direction, from the generated method registry: the keys of the
// servers' handler tables, so that a table that misses a method, or names one that is not sent on
// that link, does not compile.
import type { METHODS, MethodName, Role } from '../../codec/index.js';

type LinksOf<M extends MethodName> = (typeof METHODS)[M]['links'][number];

/** Methods that `From` sends to `To` and that get a response there (requests and handshakes). */
export type RequestsOn<From extends Role, To extends Role> = {
  [M in MethodName]: [Extract<LinksOf<M>, { from: From; to: To; responses: object }>] extends [never] ? never : M;
}[MethodName];
