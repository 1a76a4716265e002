/** One way recorded traffic departs from the service's published specification. */
export interface Violation {
  service: 'discord' | 'vertex' | 'storage' | 'google';
  /** The route template or discovery method the request was matched to, e.g. `POST /channels/{channel_id}/messages`. */
  route: string;
  /**
   * Where: a JSON path into the body (`data.attachments[0].id`, `[0].options[2].name`), `?name` for a query parameter,
   * `{name}` for a path parameter, a header name in angle brackets, or '' for the request as a whole.
   */
  field: string;
  message: string;
  /** The value sent at `field`, when there is one. */
  sent?: unknown;
  /** The request as received: method and path. */
  request: string;
  /** The test during which the request arrived, when known. */
  test?: string;
}

/** A place where the pinned document is wrong, silent or looser/stricter than the service, and how the check treats it. */
export interface Quirk {
  id: string;
  what: string;
  why: string;
  source: string;
}
