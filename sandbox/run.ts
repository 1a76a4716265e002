// `npm run sandbox`: the bot with no accounts and no settings. Starts local emulators of Discord, Vertex AI (Veo) and
// Cloud Storage, runs the real bot (`dist/index.js`) on its embedded database and in-process scheduler, and plays a
// short story, printing what Discord users would see: a member asks for a video, the bot is killed while Veo works,
// comes back, finishes the request and tells the member once; an admin then looks at /resume status; the bot is
// restarted (a deploy), and the member presses Reroll under his video for another take.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DiscordEmulator, WORLD, type InteractionHandle } from '../tests/emulators/discord';
import { GoogleEmulator } from '../tests/emulators/google';
import { conformanceReportFile } from '../tests/conformance';
import { BotProcess, type LogLine } from '../tests/helpers/botProcess';
import { ensureBuilt } from './build';
import { DiscordTranscript, formatBytes, terminalStyle } from './transcript';

const ROOT = resolve(__dirname, '..');
/** The whole story must finish within this (the build before it is not counted). */
const STORY_TIMEOUT_MS = Number(process.env.SANDBOX_TIMEOUT_MS) || 55_000;
/** How long the scripted Veo operation takes from submit to a finished video. */
const VEO_OPERATION_MS = 6_000;
/** How far into the operation the bot is killed. */
const KILL_AFTER_SUBMIT_MS = 2_500;
const VIDEO_BYTES = 1_536 * 1024;
const PROMPT = 'a red fox running through fresh snow at dawn';

/** Settings that make the story short without changing what the bot does. */
const FAST_SETTINGS: Record<string, string> = {
  VEO_POLL_INTERVAL_MS: '500',
  LEASE_DURATION_MS: '3000',
  SWEEP_INTERVAL_MS: '1000',
  PROGRESS_EDIT_INTERVAL_MS: '1000',
  LOG_LEVEL: 'info',
};

const style = terminalStyle(process.stdout.isTTY === true && !process.env.NO_COLOR);
let startedAt = Date.now();
const stamp = () => style.dim(`[${((Date.now() - startedAt) / 1000).toFixed(1).padStart(5)}s]`);
const say = (line: string) => process.stdout.write(`${stamp()} ${line}\n`);
const scene = (title: string) => process.stdout.write(`\n${stamp()} ${style.bold(`── ${title} ──`)}\n`);

class StoryFailed extends Error {}

/** Echoes the bot's log lines an operator would care about, as narration. */
class LogEcho {
  private readonly next = new Map<BotProcess, number>();
  private readonly sweptOnce = new Set<BotProcess>();

  public constructor(private readonly names: Map<BotProcess, string>) {}

  public drain(): void {
    for (const [bot, name] of this.names) {
      let i = this.next.get(bot) ?? 0;
      for (; i < bot.logs.length; i++) {
        const line = bot.logs[i]!;
        if (this.interesting(bot, line)) say(style.dim(`${name} log: ${this.describe(line)}`));
      }
      this.next.set(bot, i);
    }
  }

  private interesting(bot: BotProcess, line: LogLine): boolean {
    if (line.level >= 40) return true;
    if (line.msg === 'resume sweep started') {
      // Only the sweep at start matters here; the repeated ones also count requests this bot is working on itself.
      const first = !this.sweptOnce.has(bot);
      this.sweptOnce.add(bot);
      return first && Number(line.pending) + Number(line.generating) > 0;
    }
    if (line.msg === 'resume sweep finished') return false;
    return (
      line.msg.startsWith('resume ') ||
      [
        'DATABASE_URL is not set: using the embedded database (PGlite, one process only)',
        'scheduled tasks in-process (REDIS_URL unset): single-instance mode',
        'gateway ready',
        'Veo accepted the request',
        'requester told',
        'shutdown complete',
      ].includes(line.msg)
    );
  }

  private describe(line: LogLine): string {
    const level = line.level >= 50 ? 'ERROR ' : line.level >= 40 ? 'WARN ' : '';
    const keys = [
      'mode',
      'stalePid',
      'operationName',
      'attempt',
      'path',
      'deliveredAs',
      'resume_result',
      'status',
      'pending',
      'generating',
    ];
    const details = keys.filter((k) => line[k] !== undefined && line[k] !== null).map((k) => `${k}=${String(line[k])}`);
    const err = line.err as { message?: string } | undefined;
    if (err?.message) details.push(`err=${err.message}`);
    return `${level}${line.msg}${details.length ? ` (${details.join(', ')})` : ''}`;
  }
}

async function main(): Promise<number> {
  process.stdout.write(
    `${style.bold('veobot sandbox')}: the real bot against local emulators of Discord, Vertex AI (Veo) and Cloud Storage.\n` +
      `${style.dim('No accounts, no settings: embedded database in a temporary folder, tasks in-process. Nothing leaves this machine.')}\n`,
  );
  ensureBuilt(ROOT, say);
  // The clock of the story (and its time limit) starts once the bot is built.
  startedAt = Date.now();

  const tempDir = mkdtempSync(join(tmpdir(), 'veobot-sandbox-'));
  const dataDir = join(tempDir, 'data');
  // The bot runs in an empty folder, so a developer's .env (say, a real DATABASE_URL) cannot leak into the sandbox.
  const botCwd = join(tempDir, 'bot');
  mkdirSync(botCwd);
  let discord: DiscordEmulator | undefined;
  let google: GoogleEmulator | undefined;
  const bots: BotProcess[] = [];
  const names = new Map<BotProcess, string>();
  const echo = new LogEcho(names);
  let transcript: DiscordTranscript | undefined;
  const echoTimer = setInterval(() => echo.drain(), 25);
  const deadline = startedAt + STORY_TIMEOUT_MS;
  const left = () => Math.max(1, deadline - Date.now());
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    say(style.red(`the story did not finish within ${STORY_TIMEOUT_MS / 1000} s: stopping`));
    for (const bot of bots) void bot.kill();
  }, STORY_TIMEOUT_MS);

  // Ctrl-C: the bots get the signal from the terminal too; still remove the temporary folder.
  process.once('SIGINT', () => {
    for (const bot of bots) void bot.kill();
    rmSync(tempDir, { recursive: true, force: true });
    process.exit(130);
  });

  const startBot = async (): Promise<BotProcess> => {
    const name = `veobot #${bots.length + 1}`;
    const bot = await BotProcess.start(env, { cwd: botCwd, waitForReady: false });
    bots.push(bot);
    names.set(bot, name);
    await bot.waitForLog((l) => l.msg === 'gateway ready', left());
    echo.drain();
    say(`${style.cyan(name)} is online (pid ${bot.pid})`);
    return bot;
  };
  let env: Record<string, string> = {};
  // VEOBOT_CONFORMANCE_REPORT=file: what the bot sent, checked against Discord's and Google's published specs.
  let conformance: ReturnType<typeof conformanceReportFile> | undefined;

  try {
    scene('setting up');
    [discord, google] = await Promise.all([DiscordEmulator.start(), GoogleEmulator.start()]);
    conformance = conformanceReportFile(discord, google);
    const keyFile = google.writeServiceAccountKey(tempDir);
    google.setDefaultFate({ kind: 'done', afterMs: VEO_OPERATION_MS, videoBytes: VIDEO_BYTES });
    env = {
      DISCORD_TOKEN: discord.token,
      DISCORD_API_URL: discord.apiUrl,
      ...google.env(keyFile),
      DATA_DIR: dataDir,
      // Explicitly empty: embedded database and in-process tasks, whatever the surrounding shell has set.
      DATABASE_URL: '',
      REDIS_URL: '',
      ...FAST_SETTINGS,
    };
    say(
      `Discord emulator at ${discord.apiUrl} · Google emulator at ${google.baseUrl} (project ${google.project}, bucket ${google.bucket})`,
    );
    say(`DATA_DIR=${dataDir} · no DATABASE_URL, no REDIS_URL`);
    transcript = new DiscordTranscript(discord, (line) => say(line), style);
    transcript.start();
    const d = discord;
    const g = google;
    const t = transcript;

    const bot1 = await startBot();
    await d.waitFor(
      () => ['video', 'resume'].every((n) => d.commands.global.some((c) => c.name === n)),
      left(),
      'command registration',
    );
    say(`slash commands registered: ${d.commands.global.map((c) => `/${c.name}`).join(', ')}`);

    const general = WORLD.guilds.main.channels.general;
    const bob = WORLD.users.member;
    const alice = WORLD.users.admin;
    scene(`${WORLD.guilds.main.name} · #${general.name}`);
    say(`${style.bold(t.userName(bob.id))} runs ${style.bold(`/video prompt:"${PROMPT}" length:4`)}`);
    const video: InteractionHandle = d.pushInteraction({
      name: 'video',
      guildId: WORLD.guilds.main.id,
      channelId: general.id,
      userId: bob.id,
      options: { prompt: PROMPT, length: 4 },
    });
    await video.waitForAck(left());

    // Let Veo work for a while, and let Bob see the progress card move.
    const submit = await d.waitFor(() => g.submits[0], left(), 'the Veo submit');
    const operation = submit.operationName;
    await d.waitFor(
      () => (video.original()?.embeds[0]?.fields ?? []).some((f: { value: string }) => f.value === 'Generating'),
      left(),
      'the "Generating" progress card',
    );
    const submittedAt = g.operations.get(operation)!.submittedAt;
    await sleep(Math.max(0, submittedAt + KILL_AFTER_SUBMIT_MS - Date.now()));
    t.drain();

    scene('the bot dies');
    const opState = g.operations.get(operation)!.state;
    const exit = await bot1.kill();
    say(
      style.red(
        `💥 SIGKILL veobot #1 (pid ${bot1.pid}, exit signal ${exit.signal}) while Veo is ${opState === 'running' ? 'still generating' : `already ${opState}`}: operation …/${operation.split('/').pop()}, ${((Date.now() - submittedAt) / 1000).toFixed(1)} s of ~${VEO_OPERATION_MS / 1000} s`,
      ),
    );
    say(
      `its DATA_DIR lock file is left behind (${existsSync(join(dataDir, 'veobot.lock')) ? 'present' : 'absent'}), and Bob's reply still shows the progress card`,
    );

    scene('the bot comes back');
    const bot2 = await startBot();
    const tookOver = bot2.logs.some((l) => l.msg.startsWith('took over a stale DATA_DIR lock'));
    say(
      tookOver
        ? 'veobot #2 took over the stale DATA_DIR lock of the killed process and reopened the embedded database'
        : style.yellow('veobot #2 did not report a stale DATA_DIR lock (nothing to take over?)'),
    );

    const isResult = (m: { embeds: { title?: string }[]; attachments: unknown[] }) =>
      m.embeds.some((e) => e.title?.startsWith('✅'));
    await d.waitFor(
      () => d.messages(general.id).find((m) => m.authorId === WORLD.botUserId && isResult(m)),
      left(),
      'the result message for Bob',
    );
    const told = await bot2.waitForLog((l) => l.msg === 'requester told', left());
    t.drain();
    const result = d.messages(general.id).find((m) => m.authorId === WORLD.botUserId && isResult(m))!;
    const how =
      told.path === 'interaction'
        ? `by editing the reply to his /video`
        : `with a new message in #${general.name} that pings him (an edit would notify nobody); his old progress reply now points to it`;
    say(style.green(`✔ Bob got his video ${how}`));
    const attachment = result.attachments[0] as { filename: string; size: number } | undefined;
    say(
      `  attachment: ${attachment ? `${attachment.filename} (${formatBytes(attachment.size)})` : 'none (a link instead)'} · pinged on creation: ${result.pinged.users.map((u) => `@${t.userName(u)}`).join(', ') || 'nobody'}`,
    );

    scene('an admin checks');
    say(`${style.bold(t.userName(alice.id))} runs ${style.bold('/resume status')}`);
    const status = d.pushInteraction({
      name: 'resume',
      subcommand: 'status',
      guildId: WORLD.guilds.main.id,
      channelId: general.id,
      userId: alice.id,
    });
    await status.waitForReply((m) => !m.loading && m.embeds.length > 0, left());
    t.drain();

    scene('a deploy: the bot restarts');
    const deployed = await bot2.stop(Math.min(20_000, left()));
    echo.drain();
    say(
      `veobot #2 stopped on SIGTERM (exit code ${deployed.code}); Bob's video and its buttons stay in #${general.name}`,
    );
    const bot3 = await startBot();

    scene('Bob asks for another take');
    const reroll = (result.components ?? [])
      .flatMap((r: { components?: { label?: string; custom_id?: string }[] }) => r.components ?? [])
      .find((c) => c.label === 'Reroll');
    if (!reroll?.custom_id) throw new StoryFailed('the result has no Reroll button');
    say(`${style.bold(t.userName(bob.id))} presses ${style.bold('Reroll')} under his video (a message of veobot #2)`);
    const press = d.pushComponent({ message: result.id, customId: reroll.custom_id, userId: bob.id });
    const rerolled = await d.waitFor(
      () => {
        const id = press.interaction.originalMessageId;
        const m = id ? d.message(id) : undefined;
        return m && isResult(m) ? m : undefined;
      },
      left(),
      'the result of the Reroll',
    );
    await bot3.waitForLog((l) => l.msg === 'requester told', left());
    t.drain();
    const second = g.submits[1];
    say(
      style.green(
        `✔ veobot #3 made Bob a new take: the same prompt and settings with seed ${String(second?.parameters.seed)}, in a reply to his press`,
      ),
    );

    scene('shutting down');
    const stopped = await bot3.stop(Math.min(20_000, left()));
    echo.drain();
    say(`veobot #3 stopped on SIGTERM (exit code ${stopped.code})`);
    t.stop();

    // ---- what happened, in numbers ----
    const toBob = [...t.messages.values()].filter(
      (m) =>
        m.embedTitles.some((title) => title.startsWith('✅') || title.startsWith('❌') || title.startsWith('⌛')) &&
        (m.forUserId === bob.id || m.path === 'channel message'),
    );
    const others = t.pings.filter((u) => u !== bob.id);
    const first = g.submits[0];
    const checks: [string, boolean][] = [
      ['one Veo submit for the video, one for the Reroll (nothing paid twice)', g.submits.length === 2],
      ['one result message per request to Bob (nobody told twice)', toBob.length === 2],
      ['the video is attached', toBob[0]?.attachments.length === 1],
      [
        'the Reroll kept the prompt and settings, with a new seed',
        second?.instance.prompt === PROMPT &&
          second.parameters.durationSeconds === first?.parameters.durationSeconds &&
          typeof second.parameters.seed === 'number',
      ],
      ['the Reroll was answered after a restart', rerolled.embeds[0]?.title?.startsWith('✅') === true],
      ['the result says it was resumed', (result.embeds[0]?.footer?.text ?? '').includes('Resumed after bot restart')],
      ['nobody but Bob pinged', others.length === 0],
      ['/resume status answered Alice privately', status.original()?.ephemeral === true],
      ['clean shutdown', stopped.code === 0],
    ];
    process.stdout.write(
      `\n${style.bold('Summary')}: Veo submits: ${g.submits.length} · Veo polls: ${g.pollCount()} · video-seconds billed: ${g.billedSeconds} · ` +
        `bot restarts: ${bots.length - 1} · messages to Bob: ${toBob.length} (${toBob.map((m) => m.path).join(', ') || '-'}) · ` +
        `pings: ${t.pings.length ? t.pings.map((u) => `@${t.userName(u)}`).join(', ') : 'none'} · Discord refusals: ${t.refusals} · ` +
        `took ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`,
    );
    for (const [what, ok] of checks) process.stdout.write(`  ${ok ? style.green('✔') : style.red('✘')} ${what}\n`);
    const failed = checks.filter(([, ok]) => !ok);
    if (failed.length)
      throw new StoryFailed(`the story did not end as it should: ${failed.map(([what]) => what).join('; ')}`);
    process.stdout.write(style.green('\nsandbox story complete\n'));
    return 0;
  } catch (error) {
    transcript?.stop();
    echo.drain();
    // Waits end at the same deadline as the watchdog, so either may notice first.
    const message =
      timedOut || Date.now() >= deadline
        ? `timed out after ${STORY_TIMEOUT_MS / 1000} s`
        : error instanceof Error
          ? error.message
          : String(error);
    process.stderr.write(`\n${style.red('sandbox story FAILED')}: ${message}\n`);
    for (const bot of bots) {
      process.stderr.write(
        `\n${names.get(bot)} (pid ${bot.pid}) last log lines:\n${bot.tail(20)}\n${bot.stderr ? `stderr:\n${bot.stderr}\n` : ''}`,
      );
    }
    return 1;
  } finally {
    clearTimeout(watchdog);
    clearInterval(echoTimer);
    await Promise.allSettled(bots.map((b) => b.kill()));
    await Promise.allSettled([discord?.close(), google?.close()]);
    conformance?.write();
    rmSync(tempDir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `sandbox crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
