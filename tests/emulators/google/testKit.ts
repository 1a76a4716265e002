import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { loadConfig, type Config } from '../../../src/lib/config';
import { GoogleEmulator } from './GoogleEmulator';

/**
 * Starts the Google emulator, writes its throwaway key, and puts the operator settings into process.env (what a
 * bot process would get). `config` is what loadConfig makes of those settings.
 */
export async function startGoogle(): Promise<{
  emu: GoogleEmulator;
  keyFile: string;
  config: Config;
  logger: Logger;
  logText: () => string;
  stop: () => Promise<void>;
}> {
  const emu = await GoogleEmulator.start();
  const dir = mkdtempSync(join(tmpdir(), 'veobot-google-'));
  const keyFile = emu.writeServiceAccountKey(dir);
  const saved = { ...process.env };
  const env = emu.env(keyFile);
  Object.assign(process.env, env);
  delete process.env.GOOGLE_API_KEY;
  delete process.env.GEMINI_API_KEY;
  const config = loadConfig({ ...env, DISCORD_TOKEN: 'test-token' });
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  return {
    emu,
    keyFile,
    config,
    logger,
    logText: () => lines.join(''),
    stop: async () => {
      await emu.close();
      rmSync(dir, { recursive: true, force: true });
      process.env = saved;
    },
  };
}
