import { ApplyOptions } from '@sapphire/decorators';
import { ScheduledTask } from '@sapphire/plugin-scheduled-tasks';

/** One-off: resume every unfinished request this instance can claim (created by the ready listener). */
@ApplyOptions<ScheduledTask.Options>({
  name: 'resume',
  customJobOptions: { removeOnComplete: true, removeOnFail: 100 },
})
export class ResumeTask extends ScheduledTask<'resume'> {
  public override async run(payload: { reason?: string } | undefined) {
    const { resume, health } = this.container;
    try {
      await resume.resumeIncompleteTasks({ reason: payload?.reason ?? 'scheduled' });
    } finally {
      health.firstSweepFinished = true;
    }
  }
}
