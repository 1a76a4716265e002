// HTTP: which service a request is for (Vertex, the Cloud Storage JSON API, a signed or public object URL), its record,
// bearer-JWT auth on Vertex, and injected faults. Every request first completes the operations whose time has come.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { FakeServiceAccount } from './credentials';
import type { FaultBook } from './faults';
import type { FakeGcs } from './gcs';
import { readBody, sendGoogleError, sendJson } from './http';
import type { RequestRecorder } from './recorder';
import { type FakeVertex, VERTEX_ROUTE } from './vertex';

export interface RouterParts {
  baseUrl(): string;
  vertex: FakeVertex;
  gcs: FakeGcs;
  faults: FaultBook;
  recorder: RequestRecorder;
  account: FakeServiceAccount;
  /** Valid-JWT check failures (reasons only, never tokens). */
  authFailures: string[];
}

/** The server's request listener; an error in a handler answers 500 (or drops the socket once headers went out). */
export function requestListener(parts: RouterParts): RequestListener {
  return (req, res) => {
    dispatch(parts, req, res).catch((err: unknown) => {
      if (!res.headersSent)
        sendGoogleError(res, 500, `emulator error: ${err instanceof Error ? err.message : String(err)}`);
      else res.destroy();
    });
  };
}

async function dispatch(parts: RouterParts, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { vertex, gcs, faults, recorder } = parts;
  vertex.settleDue();
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
  const url = new URL(rawUrl, parts.baseUrl());
  const method = req.method ?? 'GET';

  const vm = VERTEX_ROUTE.exec(url.pathname);
  if (vm) {
    const route = vm[5] === 'predictLongRunning' ? 'submit' : 'poll';
    recorder.track(req, res, route, url.pathname);
    if (method !== 'POST') return sendGoogleError(res, 404, `Method ${method} is not allowed on ${url.pathname}`);
    const body = await readBody(req);
    const authProblem = parts.account.verifyBearer(req.headers.authorization);
    if (authProblem) {
      parts.authFailures.push(authProblem);
      return sendGoogleError(res, 401);
    }
    const fault = faults.take(route);
    if (fault && 'status' in fault) return sendGoogleError(res, fault.status, fault.message);
    if (fault && fault.kind === 'hang') return;
    const [, , project, location, model] = vm as unknown as [string, string, string, string, string];
    if (route === 'submit')
      return vertex.submit(res, project, location, model, body, fault?.kind === 'accept-then-drop');
    return vertex.poll(res, project, location, model, body);
  }

  if (gcs.isApiRoute(url.pathname)) {
    recorder.track(req, res, 'storage', url.pathname);
    const fault = faults.take('storage');
    if (fault && 'status' in fault) {
      await readBody(req);
      return sendJson(res, fault.status, {
        error: {
          code: fault.status,
          message: fault.message ?? 'Injected fault',
          errors: [{ message: fault.message ?? 'Injected fault', domain: 'global', reason: 'backendError' }],
        },
      });
    }
    return gcs.handleApi(req, res, url);
  }

  if ((method === 'GET' || method === 'HEAD') && /^\/[^/]+\/.+/.test(rawPath)) {
    recorder.track(req, res, 'url', url.pathname);
    return gcs.handleXmlGet(req, res, url, rawPath, rawQuery);
  }

  recorder.track(req, res, 'other', url.pathname);
  await readBody(req);
  sendGoogleError(res, 404, `The requested URL ${url.pathname} was not found on this server.`);
}
