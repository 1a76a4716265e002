// In-memory Cloud Storage: the object store plus the routes that serve it (jsonApi.ts, uploads.ts, media.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeServiceAccount } from '../credentials';
import { handleJsonApi, isJsonApiRoute } from './jsonApi';
import { handleSignedOrPublicGet } from './media';
import { ObjectStore, objectResource, type StoredObject } from './objects';
import { UPLOAD_ROUTE, Uploads } from './uploads';

/** In-memory Cloud Storage (JSON API subset used by @google-cloud/storage, plus signed/public URL serving). */
export class FakeGcs extends ObjectStore {
  /** Added to the real clock when checking signed URL validity windows (lets tests expire URLs without waiting). */
  public signedUrlClockOffsetMs = 0;
  /** When false, unsigned `GET /{bucket}/{object}` is refused (bucket not public). */
  public publicRead = true;
  private readonly uploads = new Uploads(this);

  public constructor(
    public readonly buckets: Set<string>,
    public readonly baseUrl: () => string,
    public readonly account: FakeServiceAccount,
  ) {
    super();
  }

  public resource(o: StoredObject): Record<string, unknown> {
    return objectResource(o, this.baseUrl());
  }

  /** JSON API + upload routes. Returns false when the path is not a storage route. */
  public isApiRoute(path: string): boolean {
    return isJsonApiRoute(path) || UPLOAD_ROUTE.test(path);
  }

  public async handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const up = UPLOAD_ROUTE.exec(url.pathname);
    if (up) return this.uploads.handle(req, res, url, decodeURIComponent(up[1]!));
    return handleJsonApi(this, req, res, url);
  }

  /**
   * `GET /{bucket}/{object}`: what a signed or public URL points at. Signed requests are checked for their validity
   * window and signature; unsigned ones are served only while `publicRead` is on.
   */
  public handleXmlGet(req: IncomingMessage, res: ServerResponse, url: URL, rawPath: string, rawQuery: string): void {
    handleSignedOrPublicGet(this, req, res, url, rawPath, rawQuery);
  }
}
