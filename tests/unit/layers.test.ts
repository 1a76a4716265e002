import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * The layer rule of `npm run lint` (eslint/layers.mjs): ESLint itself lints a snippet as if it stood at a path of
 * src/, so the test sees what a developer sees.
 */
const ROOT = join(__dirname, '..', '..');
const ESLINT = join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js');

function lint(path: string, code: string): string[] {
  const result = spawnSync(process.execPath, [ESLINT, '--format', 'json', '--stdin', '--stdin-filename', path], {
    cwd: ROOT,
    input: code,
    encoding: 'utf8',
  });
  const [report] = JSON.parse(result.stdout) as { messages: { ruleId: string; message: string }[] }[];
  return report!.messages.filter((m) => m.ruleId === 'layers/imports').map((m) => m.message);
}

describe('layer rule (npm run lint)', () => {
  it('keeps the domain free of the rest of src and of packages', () => {
    const errors = lint(
      'src/domain/example.ts',
      `import { x } from '../db/mapping';\nimport { y } from 'discord.js';\nimport { z } from './time';\nexport const all = [x, y, z];\n`,
    );
    expect(errors).toEqual([
      'domain may not import db (../db/mapping): domain imports only domain.',
      'domain may not import the package discord.js.',
    ]);
  });

  it('keeps services away from Discord presentation and discord.js', () => {
    const errors = lint(
      'src/services/Example.ts',
      `import { a } from '../discord/embeds';\nimport { b } from '@sapphire/framework';\nimport { c } from '../db/repositories';\nimport { d } from '../domain/policy';\nexport const all = [a, b, c, d];\n`,
    );
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^services may not import discord/);
    expect(errors[1]).toBe('services may not import the package @sapphire/framework.');
  });

  it('lets only the entry points import the composition root', () => {
    const code = `import { createApp } from '../app/createApp';\nexport const run = createApp;\n`;
    expect(lint('src/commands/example.ts', code)).toHaveLength(1);
    expect(lint('src/discord/example.ts', code)).toHaveLength(1);
    expect(lint('src/scripts/example.ts', code)).toEqual([]);
  });
});
