import { Writable } from 'node:stream';
import { DiscordAPIError } from '@discordjs/rest';
import { ApiError } from '@google/genai';
import { QueryFailedError } from 'typeorm';
import { createLogger, SapphirePinoLogger, scrubSecrets, serializeError, type SafeError } from '../../src/lib/logger';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'debug', destination }) };
}

describe('logger', () => {
  it('redacts tokens, interaction tokens and keys wherever they sit in a log object', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        token: 'bot-secret-token',
        request: { interactionToken: 'aW50ZXJhY3Rpb24tdG9rZW4tc2VjcmV0' },
        headers: { authorization: 'Bearer abc' },
        private_key: '-----BEGIN',
      },
      'hello',
    );
    const out = lines.join('');
    expect(out).not.toMatch(/bot-secret-token|aW50ZXJhY3Rpb24tdG9rZW4tc2VjcmV0|Bearer abc|BEGIN/);
    expect(out).toMatch(/\[redacted\]/);
  });

  it("redacts Discord's signed URLs of /video images, as row fields, columns or the source of a request", () => {
    const { lines, logger } = capture();
    const url = (id: number) =>
      `https://cdn.discordapp.com/ephemeral-attachments/1/${id}/cat.png?ex=6a1b2c3d&is=6a19dabd&hm=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0&`;
    logger.info(
      {
        imageSourceUrl: url(1),
        row: { lastFrameSourceUrl: url(2) },
        raw: { image_source_url: url(3), last_frame_source_url: url(4) },
        input: { imageSource: { url: url(5), filename: 'cat.png' }, lastFrameSource: { url: url(6) } },
      },
      'a request with images',
    );
    const out = lines.join('');
    expect(out).not.toMatch(/cdn\.discordapp\.com|0f1e2d3c4b5a/);
    expect(out.match(/\[redacted\]/g)).toHaveLength(6);
    // In free text (an error message), the signature is cut out.
    expect(scrubSecrets(`GET ${url(7)} failed`)).toContain('&hm=[redacted]&');
    expect(scrubSecrets(`GET ${url(7)} failed`)).not.toMatch(/0f1e2d3c4b5a/);
  });

  it('scrubs secrets that hide inside error messages and URLs', () => {
    const { lines, logger } = capture();
    const error = new Error(
      'PATCH http://discord/api/v10/webhooks/100000000000000001/aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTA/messages/@original failed',
    );
    logger.error({ err: error }, 'edit failed');
    const out = lines.join('');
    expect(out).toMatch(/webhooks\/100000000000000001\/\[redacted\]/);
    expect(out).not.toMatch(/aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTA/);
  });

  it.each([
    ['Authorization: Bot MTIzNDU2Nzg5MDEyMzQ1Njc4.abcdef.ghijklmnop', 'Bot [redacted]'],
    ['postgres://veobot:s3cret@db:5432/veobot', 'postgres://veobot:[redacted]@db:5432/veobot'],
    ['redis://:s3cret@cache:6379', 'redis://:[redacted]@cache:6379'],
  ])('scrubSecrets(%s)', (input, expected) => {
    expect(scrubSecrets(input)).toContain(expected);
    expect(scrubSecrets(input)).not.toMatch(/s3cret|ghijklmnop/);
  });
});

describe('serializeError: only known-safe fields reach a log line', () => {
  const TOKEN = 'aW50ZXJhY3Rpb246MTIzNDU2Nzg5:c2VjcmV0LWludGVyYWN0aW9uLXRva2VuLXZhbHVl';
  const PROMPT = 'a private prompt about my neighbour';
  const KEY =
    '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n';
  const leaks = (value: unknown) =>
    JSON.stringify(value).match(/c2VjcmV0|private prompt|MIIEvQ|s3cret|abcdefghijklmnop/g);

  function queryFailed(): QueryFailedError {
    const driverError = Object.assign(new Error('duplicate key value violates unique constraint "uq_token"'), {
      code: '23505',
      detail: `Key (interaction_token)=(${TOKEN}) already exists.`,
      constraint: 'uq_token',
      table: 'video_requests',
    });
    return new QueryFailedError(
      'INSERT INTO video_requests (prompt, interaction_token) VALUES ($1, $2)',
      [PROMPT, TOKEN],
      driverError,
    );
  }

  it('QueryFailedError: message and SQLSTATE, never parameters, query, driverError or the copied detail', () => {
    const out = serializeError(queryFailed());
    expect(out).toMatchObject({
      type: 'QueryFailedError',
      message: 'duplicate key value violates unique constraint "uq_token"',
      code: '23505',
    });
    expect(Object.keys(out).sort()).toEqual(['code', 'message', 'stack', 'type']);
    expect(out.stack).toMatch(/^QueryFailedError: duplicate key value[^\n]*\n\s+at /);
    expect(leaks(out)).toBeNull();
    expect(JSON.stringify(out)).not.toMatch(/INSERT|interaction_token/);
  });

  it('a PostgreSQL message that echoes a value has it blanked', () => {
    const driverError = Object.assign(new Error(`invalid input syntax for type uuid: "${PROMPT}"`), { code: '22P02' });
    const out = serializeError(new QueryFailedError('SELECT 1 WHERE id = $1', [PROMPT], driverError));
    expect(out.message).toBe('invalid input syntax for type uuid: "[redacted]"');
  });

  it('DiscordAPIError: status, code, method and path without the token; never the request body', () => {
    const error = new DiscordAPIError(
      { code: 50035, message: 'Invalid Form Body', errors: {} },
      50035,
      400,
      'PATCH',
      `https://discord.com/api/v10/webhooks/100000000000000001/${TOKEN}/messages/@original?wait=true`,
      { body: { content: PROMPT, embeds: [{ description: PROMPT }] }, files: undefined },
    );
    const out = serializeError(error);
    expect(out).toMatchObject({
      type: 'DiscordAPIError',
      name: 'DiscordAPIError[50035]',
      message: 'Invalid Form Body',
      code: 50035,
      status: 400,
      method: 'PATCH',
      url: 'https://discord.com/api/v10/webhooks/100000000000000001/[redacted]/messages/@original',
    });
    expect(JSON.stringify(out)).not.toMatch(/requestBody|rawError/);
    expect(leaks(out)).toBeNull();
  });

  it("Google ApiError: Google's message and status out of the JSON body, and the HTTP status", () => {
    const body = JSON.stringify({
      error: {
        code: 400,
        message: 'The prompt could not be submitted.',
        status: 'INVALID_ARGUMENT',
        details: [PROMPT],
      },
    });
    const out = serializeError(new ApiError({ message: body, status: 400 }));
    expect(out).toMatchObject({
      type: 'ApiError',
      message: 'The prompt could not be submitted.',
      code: 'INVALID_ARGUMENT',
      status: 400,
    });
    expect(leaks(out)).toBeNull();
  });

  it('a gaxios-style error: no request config, headers, body or response', () => {
    const error = Object.assign(new Error('request to https://storage.googleapis.com/upload failed'), {
      code: 'ECONNRESET',
      status: 503,
      config: { headers: { Authorization: 'Bearer abcdefghijklmnop' }, data: { prompt: PROMPT } },
      response: { data: KEY, headers: { 'set-cookie': 's3cret' } },
    });
    const out = serializeError(error);
    expect(out).toMatchObject({ type: 'Error', code: 'ECONNRESET', status: 503 });
    expect(leaks(out)).toBeNull();
  });

  it('scrubs secrets inside messages: tokens in URLs, bearer tokens, passwords in URLs, private keys', () => {
    const error = new Error(
      `POST /interactions/123456789012345678/${TOKEN}/callback failed; Bearer abcdefghijklmnop; postgres://u:s3cret@db/x; ${KEY}`,
    );
    const out = serializeError(error);
    expect(leaks(out)).toBeNull();
    expect(out.message).toContain('[redacted private key]');
  });

  it('follows causes and aggregated errors, with the same shape, to a bounded depth', () => {
    const aggregate = new AggregateError(
      [Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED', address: '::1' })],
      '',
    );
    const top = new Error('could not record', { cause: new Error('transaction failed', { cause: queryFailed() }) });
    (top.cause as Error & { cause: unknown }).cause = Object.assign(queryFailed(), { cause: aggregate });
    const out = serializeError(top);
    expect(out.cause?.message).toBe('transaction failed');
    expect(out.cause?.cause).toMatchObject({ type: 'QueryFailedError', code: '23505' });
    expect(out.cause?.cause?.cause?.errors?.[0]).toMatchObject({
      message: 'connect ECONNREFUSED ::1:5432',
      code: 'ECONNREFUSED',
    });
    expect(leaks(out)).toBeNull();

    let deep: Error = queryFailed();
    for (let i = 0; i < 50; i++) deep = new Error(`level ${i}`, { cause: deep });
    let depth = 0;
    for (let e: SafeError | undefined = serializeError(deep); e; e = e.cause) depth++;
    expect(depth).toBeLessThanOrEqual(5);

    const circular = new Error('loop') as Error & { cause?: unknown };
    circular.cause = circular;
    expect(serializeError(circular)).toEqual(expect.objectContaining({ message: 'loop' }));

    const hostile = new Proxy(new Error('x'), {
      get: () => {
        throw new Error('no');
      },
    });
    expect(serializeError(hostile)).toEqual({ type: 'unknown', message: '[an error that could not be read]' });
  });

  it.each([
    ['a string', `failed: https://x/webhooks/1/${TOKEN}`, 'string'],
    ['a number', 42, 'number'],
    ['null', null, 'null'],
    ['undefined', undefined, 'undefined'],
    ['a plain object', { token: TOKEN, prompt: PROMPT }, 'Object'],
    ['an array', [TOKEN, PROMPT], 'Array'],
  ])('a thrown %s is described, not dumped', (_what, thrown, type) => {
    const out = serializeError(thrown);
    expect(out.type).toBe(type);
    expect(typeof out.message).toBe('string');
    expect(leaks(out)).toBeNull();
  });

  it('a long message is cut short', () => {
    expect(serializeError(new Error('x'.repeat(50_000))).message.length).toBeLessThan(1_100);
  });
});

describe('every logged error goes through serializeError', () => {
  const TOKEN = 'c2VjcmV0LWludGVyYWN0aW9uLXRva2VuLXZhbHVl';

  function withParameters(): QueryFailedError {
    return new QueryFailedError(
      'INSERT …',
      ['a private prompt', TOKEN],
      new Error('Connection terminated unexpectedly'),
    );
  }

  it('under err or error, under any other key, and as the message pino takes from it', () => {
    const { lines, logger } = capture();
    logger.error({ err: withParameters() });
    logger.error(withParameters());
    logger.warn({ error: withParameters() }, 'error key');
    logger.warn({ reason: withParameters(), nested: { failure: withParameters() } }, 'other keys');
    logger.info({ error: `text with https://x/webhooks/1/${TOKEN}` }, 'a message as a string');
    logger.error({ err: new Error(`PATCH https://x/webhooks/1/${TOKEN}/messages/@original failed`) });
    const out = lines.join('');
    expect(out).not.toMatch(/c2VjcmV0|private prompt|INSERT/);
    expect(lines).toHaveLength(6);
    for (const line of lines.slice(0, 4)) expect(line).toContain('Connection terminated unexpectedly');
    expect(JSON.parse(lines[4]!).error).toBe('text with https://x/webhooks/1/[redacted]');
    expect(JSON.parse(lines[5]!).msg).toBe('PATCH https://x/webhooks/1/[redacted]/messages/@original failed');
  });

  it('the Sapphire adapter: errors serialized, other values without their credentials', () => {
    const { lines, logger } = capture();
    const sapphire = new SapphirePinoLogger(logger);
    sapphire.error('command failed:', withParameters());
    sapphire.warn('interaction', { id: '1', token: TOKEN, deep: { interactionToken: TOKEN } });
    sapphire.error(withParameters());
    const out = lines.join('');
    expect(out).not.toMatch(/c2VjcmV0|private prompt|INSERT/);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      msg: 'command failed:',
      source: 'sapphire',
      err: { type: 'QueryFailedError', message: 'Connection terminated unexpectedly' },
    });
    expect(JSON.parse(lines[2]!).msg).toBe('Connection terminated unexpectedly');
  });
});
