import type { IncomingMessage, ServerResponse } from 'node:http';

/** gRPC canonical status names Google puts next to the HTTP code in its JSON errors. */
export const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export const DEFAULT_MESSAGES: Record<number, string> = {
  400: 'Request contains an invalid argument.',
  401: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
  403: 'The caller does not have permission',
  404: 'Requested entity was not found.',
  429: 'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: veo. Please submit a quota increase request.',
  500: 'Internal error encountered.',
  503: 'The service is currently unavailable.',
};

const GCS_REASONS: Record<number, string> = {
  400: 'invalid',
  401: 'required',
  403: 'forbidden',
  404: 'notFound',
  412: 'conditionNotMet',
  429: 'rateLimitExceeded',
  500: 'backendError',
  503: 'backendError',
};

const bodies = new WeakMap<IncomingMessage, Promise<Buffer>>();

/**
 * The whole request body. Memoised per request, so the request recorder and a route handler can both read it (a
 * stream can be consumed only once).
 */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  let body = bodies.get(req);
  if (!body) {
    body = new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
    bodies.set(req, body);
  }
  return body;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Google's JSON error shape (Vertex): `{"error":{"code":404,"message":"…","status":"NOT_FOUND"}}`, with `details`
 * (google.rpc.Status details: `{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "53s"}` …) and
 * extra headers when given.
 */
export function sendGoogleError(
  res: ServerResponse,
  code: number,
  message?: string,
  details?: Record<string, unknown>[],
  headers: Record<string, string> = {},
): void {
  sendJson(
    res,
    code,
    {
      error: {
        code,
        message: message ?? DEFAULT_MESSAGES[code] ?? 'Error',
        status: STATUS_NAMES[code] ?? 'UNKNOWN',
        ...(details ? { details } : {}),
      },
    },
    headers,
  );
}

/** Cloud Storage JSON API error shape: `{"error":{"code":404,"message":"…","errors":[{…}]}}`. */
export function sendGcsError(res: ServerResponse, code: number, message?: string): void {
  const msg = message ?? DEFAULT_MESSAGES[code] ?? 'Error';
  sendJson(res, code, {
    error: { code, message: msg, errors: [{ message: msg, domain: 'global', reason: GCS_REASONS[code] ?? 'unknown' }] },
  });
}

/** XML error used when serving signed/public URLs (as storage.googleapis.com does). */
export function sendXmlError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  details?: string,
): void {
  const body =
    `<?xml version='1.0' encoding='UTF-8'?><Error><Code>${code}</Code><Message>${message}</Message>` +
    (details ? `<Details>${details.replace(/[<&>]/g, ' ')}</Details>` : '') +
    '</Error>';
  res.writeHead(status, {
    'content-type': 'application/xml; charset=UTF-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
