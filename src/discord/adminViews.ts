/** What `/resume` shows: the status page, the dry run, the live run and the expiry confirmation (data from ResumeAdminService). */
import { ActionRowBuilder, ButtonBuilder, ButtonStyle, type APIEmbed } from 'discord.js';
import type { DryRunPlan, InstanceView, LeaseHolder, PendingExpiry, RunProgress, StatusPage } from '../domain/admin';
import type { GenerationOutcome } from '../domain/outcomes';
import type { UnfinishedRow } from '../domain/request';
import { formatDuration } from '../domain/time';
import { RESUME_BUTTON } from './customIds';
import { fitEmbed, LIMITS } from './limits';
import { COLORS, displayText } from './text';

export interface View {
  embeds: APIEmbed[];
  components: ActionRowBuilder<ButtonBuilder>[];
}

const OUTCOME_TEXT: Record<GenerationOutcome, string> = {
  completed: '✅ completed',
  failed: '❌ failed',
  timeout: '⌛ timed out',
  announced: '📨 announced',
  announce_failed: '⚠️ could not announce',
  lost_lease: '↪️ taken by another instance',
  interrupted: '⏸️ interrupted',
  deferred: '⏳ waiting (ambiguous submit)',
};

function shortId(id: string): string {
  return id.slice(0, 8);
}

function shortOperation(name: string | null): string {
  if (!name) return '—';
  return `…${name.split('/').pop()!.slice(0, 8)}`;
}

function age(now: number, date: Date): string {
  return formatDuration(now - new Date(date).getTime());
}

const HOLDER_TEXT: Record<LeaseHolder, string> = {
  free: 'free',
  this_bot: 'this bot',
  other_alive: 'another instance (alive)',
  other_not_responding: 'another instance (not responding)',
};

function statusLine(r: UnfinishedRow & { holder: LeaseHolder }, now: number): string {
  const state = r.status === 'pending' || r.status === 'generating' ? r.status : `${r.status}, announcement due`;
  const lease = HOLDER_TEXT[r.holder];
  return (
    `\`${shortId(r.id)}\` **${state}** · ${age(now, r.createdAt)} ago · <@${r.userId}> · ` +
    `“${displayText(r.prompt, 60)}” · ${r.attemptCount} attempt(s) · op ${shortOperation(r.operationName)} · ${lease}`
  );
}

function instanceLine(i: InstanceView, now: number): string {
  const name = i.thisBot ? '**this bot**' : `instance \`${i.label}\``;
  const shards = i.shards.length > 0 ? `shard${i.shards.length > 1 ? 's' : ''} ${i.shards.join(', ')}` : 'no shard';
  const beat = `last beat ${age(now, i.lastBeatAt)} ago`;
  return i.responding
    ? `🟢 ${name} · ${shards} · up ${age(now, i.startedAt)} · ${beat}`
    : `🔴 ${name} · **not responding** (${beat}); its requests are being taken over`;
}

/**
 * The bot processes sharing the work, as one field: this bot first, then those not responding, then the others, as
 * many as fit in a field (a large fleet ends with how many more there are).
 */
function instancesField(instances: InstanceView[], now: number): { name: string; value: string } {
  const down = instances.filter((i) => !i.responding).length;
  const ordered = [...instances].sort(
    (a, b) => Number(b.thisBot) - Number(a.thisBot) || Number(a.responding) - Number(b.responding),
  );
  const lines: string[] = [];
  let used = 0;
  for (const [n, i] of ordered.entries()) {
    const line = instanceLine(i, now);
    // Room is kept for the "…and N more" line.
    if (used + line.length + 1 > LIMITS.fieldValue - 24) {
      lines.push(`…and ${ordered.length - n} more`);
      break;
    }
    lines.push(line);
    used += line.length + 1;
  }
  return {
    name: `Bot instances: ${instances.length - down} live${down > 0 ? `, ${down} not responding` : ''}`,
    value: lines.join('\n') || 'none recorded',
  };
}

export function statusView(page: StatusPage): View {
  const { summary, now } = page;
  const lines = page.rows.map((r) => statusLine(r, now));
  const failures = page.recentFailures.map(
    (r) =>
      `\`${shortId(r.id)}\` ${r.status} · ${age(now, r.completedAt ?? r.createdAt)} ago · ${displayText(r.errorMessage ?? '—', 200)}`,
  );
  const embed: APIEmbed = fitEmbed({
    title: 'Unfinished video requests in this server',
    color: page.resumeDisabled ? COLORS.warning : COLORS.progress,
    description: [
      page.resumeDisabled
        ? '⚠️ **Automatic resume is disabled** (DISABLE_TASK_RESUME). Use `/resume run` to resume by hand.\n'
        : null,
      lines.length > 0 ? lines.join('\n') : 'Nothing is waiting. 🎉',
    ]
      .filter(Boolean)
      .join('\n'),
    fields: [
      { name: 'Pending', value: String(summary.pending), inline: true },
      { name: 'Generating', value: String(summary.generating), inline: true },
      { name: 'Waiting to be announced', value: String(summary.awaitingAnnouncement), inline: true },
      { name: 'Failed (24 h)', value: String(summary.failed24h), inline: true },
      { name: 'Timed out (24 h)', value: String(summary.timeout24h), inline: true },
      { name: 'Video-seconds at risk', value: `${summary.videoSecondsAtRisk} s`, inline: true },
      ...(page.spend
        ? [
            {
              name: 'Budget (24 h)',
              value:
                page.spend.budget.limit === null
                  ? `${page.spend.budget.used} video-seconds (no cap)`
                  : `${page.spend.budget.used} of ${page.spend.budget.limit} video-seconds`,
              inline: true,
            },
            {
              name: 'Waiting for Veo',
              value:
                page.spend.queueLength === 0
                  ? 'nobody'
                  : `${page.spend.queueLength} queued · oldest ${page.spend.oldestQueuedAt ? age(now, page.spend.oldestQueuedAt) : '—'}`,
              inline: true,
            },
          ]
        : []),
      ...(failures.length > 0
        ? [{ name: 'Latest failures (what Google or the bot said)', value: failures.join('\n') }]
        : []),
      ...(page.instances.length > 0 ? [instancesField(page.instances, now)] : []),
    ],
    footer: {
      text: `Page ${page.page + 1} of ${page.pages} · ${page.total} unfinished · oldest ${summary.oldestUnfinishedAt ? age(now, summary.oldestUnfinishedAt) : '—'}`,
    },
  });
  const current = page.page;
  const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder()
      .setCustomId(RESUME_BUTTON.statusPage(Math.max(0, current - 1), 'newer'))
      .setLabel('◀ Newer')
      .setStyle(ButtonStyle.Secondary)
      .setDisabled(current === 0),
    new ButtonBuilder()
      .setCustomId(RESUME_BUTTON.statusPage(current, 'refresh'))
      .setLabel('Refresh')
      .setStyle(ButtonStyle.Primary),
    new ButtonBuilder()
      .setCustomId(RESUME_BUTTON.statusPage(Math.min(current + 1, page.pages - 1), 'older'))
      .setLabel('Older ▶')
      .setStyle(ButtonStyle.Secondary)
      .setDisabled(current >= page.pages - 1),
  );
  return { embeds: [embed], components: [row] };
}

export function dryRunEmbed(plan: DryRunPlan): APIEmbed {
  const lines = plan.items.map((item) => {
    const r = item.row;
    let action: string;
    switch (item.action) {
      case 'skip_live':
        action = 'skip: being worked on right now';
        break;
      case 'expire':
        action = `expire (older than ${plan.maxAgeHours} h)`;
        break;
      case 'submit':
        action = `submit to Veo again (${item.seconds} s billed)`;
        break;
      case 'poll':
        action = 'check the running Veo operation (no new charge)';
        break;
      case 'announce':
        action = 'tell the requester';
        break;
    }
    return `\`${shortId(r.id)}\` ${r.status} · ${age(plan.now, r.createdAt)} ago → ${action}`;
  });
  return fitEmbed({
    title: 'Dry run: what /resume run would do',
    color: COLORS.progress,
    description:
      (lines.length ? lines.join('\n') : 'Nothing to resume.') +
      (plan.total > plan.items.length ? `\n…and ${plan.total - plan.items.length} more` : ''),
    fields: [
      {
        name: 'Video-seconds it would spend',
        value: `${plan.seconds} s (at most; ambiguous submits are checked first)`,
      },
    ],
  });
}

export function runEmbed(progress: RunProgress, final: boolean): APIEmbed {
  const lines = [...progress.requests.entries()].map(([id, state]) =>
    state.outcome
      ? `\`${shortId(id)}\` ${OUTCOME_TEXT[state.outcome]}`
      : `\`${shortId(id)}\` ${state.status} → running`,
  );
  const { counts } = progress;
  return fitEmbed({
    title: final ? 'Resume finished' : 'Resuming this server’s requests…',
    color: final ? COLORS.success : COLORS.progress,
    description: lines.slice(-20).join('\n') || 'Nothing to resume.',
    fields: [
      { name: 'Found', value: String(counts.found), inline: true },
      { name: 'Running', value: String(counts.running), inline: true },
      { name: 'Completed', value: String(counts.completed), inline: true },
      { name: 'Failed', value: String(counts.failed), inline: true },
      { name: 'Timed out', value: String(counts.timeout), inline: true },
      { name: 'Elapsed', value: formatDuration(progress.elapsedMs), inline: true },
    ],
  });
}

/** A second `/resume run` while one is going: who started it and when (a silent mention). */
export function runBusyText(startedBy: string, startedAt: Date): string {
  return `A resume run of this server is already going: <@${startedBy}> started it <t:${Math.floor(startedAt.getTime() / 1000)}:R>. Its progress is in that command's reply; run \`/resume status\` to see where things stand.`;
}

/** The one-minute confirmation of an expiry: the buttons carry the whole filter. */
export function expiryButtons(pending: PendingExpiry): ActionRowBuilder<ButtonBuilder> {
  return new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder()
      .setCustomId(RESUME_BUTTON.expire('confirm', pending))
      .setLabel('Expire them')
      .setStyle(ButtonStyle.Danger),
    new ButtonBuilder()
      .setCustomId(RESUME_BUTTON.expire('cancel', pending))
      .setLabel('Cancel')
      .setStyle(ButtonStyle.Secondary),
  );
}
