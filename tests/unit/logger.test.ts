import { Writable } from 'node:stream';
import { createLogger, scrubSecrets } from '../../src/lib/logger';

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
