import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics (base units, `_total` counters, no user or guild labels). One instance per process; services
 * receive it in their constructor so tests can read values from a private registry.
 */
export class Metrics {
  public readonly registry = new Registry();

  public readonly requestsCreated = new Counter({
    name: 'veobot_requests_created_total',
    help: 'Video requests created by /video',
    registers: [this.registry],
  });
  public readonly requestsFinished = new Counter({
    name: 'veobot_requests_finished_total',
    help: 'Video requests that reached a final state, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  public readonly unfinishedRequests = new Gauge({
    name: 'veobot_unfinished_requests',
    help: 'Requests not yet finished or not yet announced, by state (sampled from the database)',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  public readonly resumes = new Counter({
    name: 'veobot_resumes_total',
    help: 'Requests resumed after a restart or takeover, by starting state and outcome',
    labelNames: ['from_state', 'outcome'] as const,
    registers: [this.registry],
  });
  public readonly resumeSweepDuration = new Histogram({
    name: 'veobot_resume_sweep_duration_seconds',
    help: 'Duration of one resume sweep (claim until nothing is left)',
    buckets: [0.05, 0.25, 1, 5, 30, 120, 600, 1800],
    registers: [this.registry],
  });
  public readonly veoSubmits = new Counter({
    name: 'veobot_veo_submits_total',
    help: 'Veo submit calls by result (accepted, rejected, ambiguous, throttled: answered 429)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  public readonly billedVideoSeconds = new Counter({
    name: 'veobot_billed_video_seconds_total',
    help: 'Video seconds of accepted Veo submits (what Google bills)',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  public readonly duplicateBilledVideoSeconds = new Counter({
    name: 'veobot_duplicate_billed_video_seconds_total',
    help: 'Video seconds submitted again for a request that already had an accepted or ambiguous submit',
    registers: [this.registry],
  });
  public readonly veoPolls = new Counter({
    name: 'veobot_veo_polls_total',
    help: 'Veo operation polls by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  public readonly leaseTakeovers = new Counter({
    name: 'veobot_lease_takeovers_total',
    help: 'Requests claimed after another instance let its lease run out',
    registers: [this.registry],
  });
  public readonly fencedWritesRefused = new Counter({
    name: 'veobot_fenced_writes_refused_total',
    help: 'State changes refused because this instance no longer held the request',
    registers: [this.registry],
  });
  public readonly notifications = new Counter({
    name: 'veobot_notifications_total',
    help: 'Requester notifications by path (interaction or channel) and result',
    labelNames: ['path', 'result'] as const,
    registers: [this.registry],
  });
  public readonly uploadFallbacks = new Counter({
    name: 'veobot_upload_fallbacks_total',
    help: 'Videos posted as a link instead of an attachment, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  public readonly shards = new Gauge({
    name: 'veobot_shards',
    help: 'Gateway shards this process runs (SHARD_IDS)',
    registers: [this.registry],
  });
  public readonly shardsReady = new Gauge({
    name: 'veobot_shards_ready',
    help: 'Gateway shards of this process that are READY now (below veobot_shards: one is connecting or down)',
    registers: [this.registry],
  });
  public readonly ambiguousAttempts = new Counter({
    name: 'veobot_veo_ambiguous_attempts_total',
    help: 'Submit attempts found without an operation name after a crash',
    registers: [this.registry],
  });

  // Spend control (issue #13).
  public readonly reservedVideoSeconds = new Counter({
    name: 'veobot_reserved_video_seconds_total',
    help: 'Video seconds reserved by recorded requests (duration x samples; freed when nothing was billed)',
    registers: [this.registry],
  });
  public readonly submitQueueLength = new Gauge({
    name: 'veobot_submit_queue_length',
    help: 'Requests waiting for a Veo submit permit, all instances (sampled from the database)',
    registers: [this.registry],
  });
  public readonly submitQueueOldestSeconds = new Gauge({
    name: 'veobot_submit_queue_oldest_seconds',
    help: 'Age of the oldest request waiting for a Veo submit permit, all instances (sampled from the database)',
    registers: [this.registry],
  });
  public readonly submitQueueWait = new Histogram({
    name: 'veobot_submit_queue_wait_seconds',
    help: 'How long a request waited in this instance for a Veo submit permit',
    buckets: [0.05, 0.5, 2, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
  });
  public readonly veoRateLimited = new Counter({
    name: 'veobot_veo_rate_limited_total',
    help: 'Veo submits answered 429 RESOURCE_EXHAUSTED (requeued, not billed)',
    registers: [this.registry],
  });
  public readonly requestsRefused = new Counter({
    name: 'veobot_requests_refused_total',
    help: 'Video requests refused by a spend cap, by cap',
    labelNames: ['cap'] as const,
    registers: [this.registry],
  });

  public constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }
}
