/** Per-spawn progress log: replayed to late subscribers, then streamed (the SSE progress endpoint reads it). */
import { EventEmitter } from 'node:events';

export interface HubProgressEvent {
  progress: number;
  message: string;
  html_message?: string;
  ready?: boolean;
  failed?: boolean;
  url?: string;
}

export class ProgressLog {
  readonly events: HubProgressEvent[] = [];
  private readonly emitter = new EventEmitter();
  private done = false;

  push(e: HubProgressEvent): void {
    if (this.done) return;
    // progress never goes backwards on the page
    const last = this.events.at(-1);
    const event = last && e.progress < last.progress && !e.ready && !e.failed ? { ...e, progress: last.progress } : e;
    this.events.push(event);
    if (e.ready || e.failed) this.done = true;
    this.emitter.emit('event', event);
  }

  get finished(): boolean {
    return this.done;
  }

  /** Replays past events then yields new ones until the terminal event or the signal aborts. */
  async *stream(signal: AbortSignal): AsyncGenerator<HubProgressEvent> {
    let index = 0;
    while (!signal.aborted) {
      while (index < this.events.length) {
        const e = this.events[index++];
        yield e;
        if (e.ready || e.failed) return;
      }
      await new Promise<void>((resolve) => {
        const onEvent = () => finish();
        const onAbort = () => finish();
        const finish = () => {
          this.emitter.off('event', onEvent);
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        this.emitter.on('event', onEvent);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  }
}
