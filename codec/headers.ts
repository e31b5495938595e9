// Header accessors typed by header name per method. The header names each method's requests and
// responses may carry are generated from spec/registry/methods.json (generated/methods.ts), so
// reading a header the method does not have, or a misspelt one, fails to compile:
//
//   const user = requiredHeaderOf(m, 'User');   // m: RequestOf<'LOGIN'>
//   const salt = headerOf(r, 'Salt');           // r: ResponseTo<'LOGIN'>, from link.request(...)
//   headerOf(m, 'Usr');                          // error TS2769: not a header of LOGIN
//
// Code that handles every method alike (the Link: Tag, Error-code, Seq) uses anyHeader(), typed by
// the registered header names. Names match case-insensitively on the wire [WIRE-7].
import type { RequestHeaderOf, ResponseHeaderOf } from '../generated/methods.js';
import { METHODS, type HeaderName, type MethodName } from '../generated/registry.js';
import { header } from './encoder.js';
import type { Message, RequestMessage, ResponseMessage } from './types.js';

/** A request (notification, envelope, handshake) whose method is known at compile time. */
export type RequestOf<M extends MethodName> = RequestMessage & { readonly method: M };

/**
 * A response to a request of method M. The method is a compile-time tag only (a response does not
 * name its method on the wire); Link.request returns it for the request it sent.
 */
export type ResponseTo<M extends string> = ResponseMessage & { readonly '~respondsTo'?: M };

/** Whether `s` is a registered method ([§5 Methods]): the guard that types a decoded message's method. */
export function isMethodName(s: string): s is MethodName {
  return Object.hasOwn(METHODS, s);
}

/** Whether msg is a request of `method` (the type guard that gives its headers their names). */
export function isRequestOf<M extends MethodName>(msg: Message, method: M): msg is RequestOf<M> {
  return msg.kind === 'request' && msg.method === method;
}

/** The value of a request's header, or undefined; `name` must be one the method's registry entry lists. */
export function headerOf<M extends MethodName>(msg: RequestOf<M>, name: RequestHeaderOf<M>): string | undefined;
/** The value of a response's header, or undefined; `name` must be one a response to M may carry. */
export function headerOf<M extends MethodName>(msg: ResponseTo<M>, name: ResponseHeaderOf<M>): string | undefined;
export function headerOf(msg: Message, name: string): string | undefined {
  return header(msg, name);
}

/**
 * The value of a header that registry validation already made required on this message (a missing
 * one is a bug in the caller, not the peer's fault: it throws). For optional headers use headerOf.
 */
export function requiredHeaderOf<M extends MethodName>(msg: RequestOf<M>, name: RequestHeaderOf<M>): string;
export function requiredHeaderOf<M extends MethodName>(msg: ResponseTo<M>, name: ResponseHeaderOf<M>): string;
export function requiredHeaderOf(msg: Message, name: string): string {
  const v = header(msg, name);
  if (v === undefined) throw new Error(`missing ${name} after validation`);
  return v;
}

/** A registered header of a message of any method (for code that handles every method alike). */
export function anyHeader(msg: Message, name: HeaderName): string | undefined {
  return header(msg, name);
}
