import { ApplyOptions } from '@sapphire/decorators';
import { ScheduledTask } from '@sapphire/plugin-scheduled-tasks';
import { container } from '@sapphire/framework';

/**
 * Repeated: picks up requests whose lease ran out (an instance died) and announcements still due, without waiting
 * for the dead instance to come back. Claims are fenced, so running it on every instance is safe. The task ends once
 * the sweep has filled this process's free slots: a long request it claimed never holds back the next sweep.
 */
@ApplyOptions<ScheduledTask.Options>({
  name: 'resumeSweep',
  interval: sweepInterval(),
  customJobOptions: { removeOnComplete: true, removeOnFail: 100 },
})
export class ResumeSweepTask extends ScheduledTask<'resumeSweep'> {
  public override async run() {
    const { resume, config, pino } = this.container;
    if (config.resume.disabled || resume.stopping) return;
    const sweep = resume.startSweep({ reason: 'sweep' });
    sweep.done.catch((error: unknown) => pino.error({ err: error }, 'a resume sweep stopped on a database error'));
    await sweep.claimed;
  }
}

// Pieces are loaded during login, after index.ts has put the validated config in the container.
function sweepInterval(): number {
  return container.config?.resume.sweepIntervalMs ?? 30_000;
}
