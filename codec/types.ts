// The message model of the codec (spec Appendix B).

/** One header line: the name as on the wire, the value without surrounding spaces and tabs. */
export type Header = [name: string, value: string];

export interface RequestMessage {
  kind: 'request';
  method: string;
  headers: Header[];
  body: Buffer;
}

export interface ResponseMessage {
  kind: 'response';
  status: number;
  reason: string;
  headers: Header[];
  body: Buffer;
}

export type Message = RequestMessage | ResponseMessage;

/** Headers given to the constructors: a list in wire order, or an object (undefined skipped). */
export type HeaderInit =
  | readonly (readonly [string, string | number])[]
  | { readonly [name: string]: string | number | bigint | readonly (string | number)[] | undefined };

/** The two ends of a link. */
export interface Link {
  from: 'crs' | 'ms' | 'client';
  to: 'crs' | 'ms' | 'client';
}
