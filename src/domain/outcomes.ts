import type { VideoRequestRow } from './request';

/** What happened to one request while this process drove it. */
export type GenerationOutcome =
  | 'completed'
  | 'failed'
  | 'timeout'
  | 'announced' // it was already finished; only the announcement was due
  | 'announce_failed' // finished, but Discord refused the message (recorded on the row)
  | 'lost_lease' // another instance took the request over; this one stopped writing
  | 'interrupted' // shutdown: the lease was released for another instance
  | 'deferred'; // an ambiguous submit is still inside its grace period; retried by a later sweep

/** How a report counts an outcome (the resume summary of R10 and the `/resume run` embed use the same buckets). */
export type OutcomeBucket = 'completed' | 'failed' | 'timeout' | 'announced' | 'not_finished';

export function outcomeBucket(outcome: GenerationOutcome): OutcomeBucket {
  switch (outcome) {
    case 'completed':
      return 'completed';
    case 'failed':
    case 'announce_failed':
      return 'failed';
    case 'timeout':
      return 'timeout';
    case 'announced':
      return 'announced';
    default:
      return 'not_finished';
  }
}

/** The outcome a row's status stands for once its worker is done with it. */
export function outcomeOf(row: Pick<VideoRequestRow, 'status'>): GenerationOutcome {
  if (row.status === 'completed') return 'completed';
  if (row.status === 'failed') return 'failed';
  if (row.status === 'timeout') return 'timeout';
  return 'deferred';
}
