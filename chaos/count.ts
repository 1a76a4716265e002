// Counting a chaos run from what users and the bill saw: the requests' rows, the Discord messages and the Veo submits
// the emulators recorded. Every request must be either refused with an answer, never acknowledged (and then never
// recorded), or finished and announced exactly once after exactly one submit.
import type { Client } from 'pg';
import type { DiscordEmulator, InteractionHandle } from '../tests/emulators/discord';
import type { GoogleEmulator } from '../tests/emulators/google';
import { pingsFor, resultNotifications, submitsFor } from '../tests/helpers/outcomes';
import type { ChaosResult } from './report';

export interface Sent {
  handle: InteractionHandle;
  userId: string;
}

export type Outcomes = Pick<
  ChaosResult,
  | 'notAnswered'
  | 'refused'
  | 'accepted'
  | 'acceptedWithoutAck'
  | 'finished'
  | 'completed'
  | 'failed'
  | 'timeout'
  | 'lost'
  | 'duplicateSubmits'
  | 'resubmitsAfterLostFailure'
  | 'duplicateMessages'
  | 'ambiguousAttempts'
  | 'ambiguousResubmitted'
>;

/** Counts the outcomes of `sent` once the run has drained; each problem found is added to `problems`. */
export async function countOutcomes(
  ds: Client,
  sent: Sent[],
  discord: DiscordEmulator,
  google: GoogleEmulator,
  problems: string[],
): Promise<Outcomes> {
  const { rows } = await ds.query(`SELECT id, user_id, status, announcement, interaction_token FROM video_requests`);
  const byToken = new Map<string, { id: string }>(
    rows.filter((r) => r.interaction_token).map((r) => [r.interaction_token as string, r]),
  );
  let notAnswered = 0;
  let refused = 0;
  let lost = 0;
  for (const s of sent) {
    const ack = s.handle.interaction.ackType;
    if (byToken.has(s.handle.token)) continue;
    // Not acknowledged: Discord showed "The application did not respond" and nothing was recorded.
    if (ack === undefined) notAnswered++;
    // Answered with a reason (e.g. "The bot is restarting"): nothing was started.
    else if (ack === 4) refused++;
    else {
      lost++;
      problems.push(`interaction ${s.handle.id} was acknowledged (type ${ack}) but no request was recorded`);
    }
  }
  let duplicateSubmits = 0;
  let resubmitsAfterLostFailure = 0;
  let duplicateMessages = 0;
  const status = { completed: 0, failed: 0, timeout: 0 };
  let finished = 0;
  for (const r of rows) {
    const submits = submitsFor(google, r.id);
    const results = resultNotifications(discord, r.id).length;
    const pings = pingsFor(discord, r.id, r.user_id).length;
    if (submits > 1) {
      duplicateSubmits += submits - 1;
      // A failed or filtered operation writes nothing to its output folder: if the bot died before storing its name,
      // nothing tells it from a submit that never reached Veo, and the bot submits again after the grace period.
      const ops = [...google.operations.values()]
        .filter((op) => String(op.storageUri ?? '').includes(r.id))
        .sort((a, b) => a.submittedAt - b.submittedAt);
      const earlierMadeNothing =
        ops.length === submits && ops.slice(0, -1).every((op) => op.state === 'failed' || op.state === 'filtered');
      if (earlierMadeNothing) resubmitsAfterLostFailure += submits - 1;
      else problems.push(`request ${r.id}: ${submits} Veo submits (${ops.map((op) => op.state).join(', ')})`);
    }
    const extra = Math.max(0, results - 1, pings - 1);
    if (extra > 0) {
      duplicateMessages += extra;
      problems.push(`request ${r.id}: ${results} result messages, ${pings} pings`);
    }
    const done = ['completed', 'failed', 'timeout'].includes(r.status) && r.announcement === 'sent' && results >= 1;
    if (done) {
      finished++;
      status[r.status as keyof typeof status]++;
    } else {
      lost++;
      problems.push(`request ${r.id}: ${r.status}, announcement ${r.announcement}, ${results} result message(s)`);
    }
  }
  const acceptedWithoutAck = sent.filter(
    (s) => byToken.has(s.handle.token) && s.handle.interaction.ackType === undefined,
  ).length;
  const { rows: amb } = await ds.query(
    `SELECT count(*)::int AS ambiguous, count(*) FILTER (WHERE state = 'abandoned')::int AS resubmitted
     FROM video_request_attempts WHERE operation_name IS NULL AND state IN ('submitting', 'abandoned')`,
  );
  return {
    notAnswered,
    refused,
    accepted: rows.length,
    acceptedWithoutAck,
    finished,
    ...status,
    lost,
    duplicateSubmits,
    resubmitsAfterLostFailure,
    duplicateMessages,
    ambiguousAttempts: amb[0].ambiguous,
    ambiguousResubmitted: amb[0].resubmitted,
  };
}
