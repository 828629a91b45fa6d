// What wakes the embedded supervisor besides its clock: inotify watches (fs.watch) on the services directory and on each
// service's directory and logs. A settled service is then looked at only when a file of it changed (a command wrote
// its state, its sandbox wrote its exit status, it printed output) or after a long safety interval, instead of five
// times a second: the supervisor's idle CPU was these looks.
import { watch, type FSWatcher } from 'node:fs';
import { servicePaths } from './store.js';

/**
 * urgent: a command or a sandbox wrote a record (a new service, a start request, an exit status): looked at within a
 * fast tick. due: output arrived: looked at by the next regular tick (a chatty app must not make the loop spin).
 */
export type Wake = 'urgent' | 'due';

/** Files whose change is urgent: the definition (a start request), the state, the sandbox's exit status. */
const URGENT_FILES = new Set(['service.json', 'state.json', 'bwrap.status']);

export class Wakeups {
  private readonly watchers = new Map<string, FSWatcher[]>();
  /** Per service: the strongest kind since the last take, and when the first of them came. */
  private readonly marks = new Map<string, { kind: Wake; at: number }>();
  private rootWatcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private resolveSleep: (() => void) | null = null;
  private sleepUntil = 0;
  /** The loop's clock: when the current pass started, so that a wake never makes it run sooner than its ticks allow. */
  private passStarted = 0;

  constructor(private readonly root: string, private readonly servicesDir: string, private readonly ticks: { fast: number; regular: number }) {}

  /** Watches the services directory (a new service's directory appears there). False: no inotify; the clock alone. */
  start(): boolean {
    try {
      this.rootWatcher = watch(this.servicesDir, { persistent: false }, (_e, file) => this.mark(typeof file === 'string' ? file : null, 'urgent'));
      this.rootWatcher.on('error', () => { this.rootWatcher?.close(); this.rootWatcher = null; });
      return true;
    } catch {
      return false;
    }
  }

  /** Whether the service is watched (then it may be left alone while settled); starts watching it if not yet. */
  watching(name: string): boolean {
    if (this.rootWatcher === null) return false;
    if (this.watchers.has(name)) return true;
    const p = servicePaths(this.root, name);
    const ws: FSWatcher[] = [];
    const drop = () => this.forget(name);
    try {
      for (const [dir, kind] of [[p.dir, null], [p.logs, 'due']] as const) {
        const w = watch(dir, { persistent: false }, (_e, file) => this.mark(name, kind ?? (typeof file === 'string' && URGENT_FILES.has(file) ? 'urgent' : 'due')));
        w.on('error', drop);
        ws.push(w);
      }
    } catch {
      for (const w of ws) w.close();
      return false;
    }
    this.watchers.set(name, ws);
    return true;
  }

  forget(name: string): void {
    for (const w of this.watchers.get(name) ?? []) w.close();
    this.watchers.delete(name);
  }

  /** The services marked since the last call, how, and when first. */
  take(): Map<string, { kind: Wake; at: number }> {
    const m = new Map(this.marks);
    this.marks.clear();
    return m;
  }

  /** Sleeps until `until` (a Date.now() value), or sooner when a watched file changes. */
  sleep(passStarted: number, until: number): Promise<void> {
    this.passStarted = passStarted;
    return new Promise((resolve) => {
      this.resolveSleep = resolve;
      this.sleepUntil = until;
      this.arm(until);
      // Marks that came while the pass ran end the sleep as soon as the ticks allow.
      for (const m of this.marks.values()) this.shorten(m.kind);
    });
  }

  close(): void {
    for (const name of [...this.watchers.keys()]) this.forget(name);
    this.rootWatcher?.close();
    this.rootWatcher = null;
    if (this.timer) clearTimeout(this.timer);
  }

  private mark(name: string | null, kind: Wake): void {
    const key = name ?? '';
    const had = this.marks.get(key);
    this.marks.set(key, { kind: had?.kind === 'urgent' || kind === 'urgent' ? 'urgent' : 'due', at: had?.at ?? Date.now() });
    this.shorten(kind);
  }

  private shorten(kind: Wake): void {
    if (!this.resolveSleep) return;
    const at = this.passStarted + (kind === 'urgent' ? this.ticks.fast : this.ticks.regular);
    if (at < this.sleepUntil) {
      this.sleepUntil = at;
      this.arm(at);
    }
  }

  private arm(until: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      const r = this.resolveSleep;
      this.resolveSleep = null;
      r?.();
    }, Math.max(5, until - Date.now()));
  }
}
