import { ApplyOptions } from '@sapphire/decorators';
import { ScheduledTask } from '@sapphire/plugin-scheduled-tasks';

/**
 * One-off: resume every unfinished request this instance can claim (created by the ready listener). The task ends
 * once the sweep has made its claims, so the scheduler's worker is free for other tasks while the requests run; the
 * sweep logs its summary when they have ended.
 */
@ApplyOptions<ScheduledTask.Options>({
  name: 'resume',
  customJobOptions: { removeOnComplete: true, removeOnFail: 100 },
})
export class ResumeTask extends ScheduledTask<'resume'> {
  public override async run(payload: { reason?: string } | undefined) {
    const { resume, health, pino } = this.container;
    const sweep = resume.startSweep({ reason: payload?.reason ?? 'scheduled' });
    void sweep.done
      .catch((error: unknown) => pino.error({ err: error }, 'the resume sweep stopped on a database error'))
      .finally(() => (health.firstSweepFinished = true));
    await sweep.claimed;
  }
}
