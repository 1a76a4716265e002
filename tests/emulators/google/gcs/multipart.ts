// multipart/related bodies (Cloud Storage multipart uploads; the request recorder splits them too).

/** The parts of a multipart body (headers lower-cased), or null when it cannot be split. */
export function parseMultipart(
  contentType: string,
  body: Buffer,
): { headers: Record<string, string>; body: Buffer }[] | null {
  const bm = /boundary="?([^";]+)"?/i.exec(contentType);
  if (!bm) return null;
  const delim = Buffer.from(`--${bm[1]}`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let pos = body.indexOf(delim);
  if (pos < 0) return null;
  for (;;) {
    pos += delim.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break;
    if (body.subarray(pos, pos + 2).toString() === '\r\n') pos += 2;
    const next = body.indexOf(delim, pos);
    if (next < 0) return null;
    let chunk = body.subarray(pos, next);
    if (chunk.subarray(chunk.length - 2).toString() === '\r\n') chunk = chunk.subarray(0, chunk.length - 2);
    const sep = chunk.indexOf('\r\n\r\n');
    const headerText = sep >= 0 ? chunk.subarray(0, sep).toString('utf8') : '';
    const headers: Record<string, string> = {};
    for (const line of headerText.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    parts.push({ headers, body: sep >= 0 ? chunk.subarray(sep + 4) : chunk });
    pos = next;
  }
  return parts;
}
