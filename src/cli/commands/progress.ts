// A byte progress bar (bytes, rate, ETA) on stderr when it is a terminal; nothing otherwise.
import cliProgress from 'cli-progress';

const human = (n: number) => {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
};

export interface ProgressBar {
  update(done: number, total?: number): void;
  stop(): void;
  /** The bar's update function when it is drawn, else undefined (no byte counting needed). */
  onProgress?: (done: number, total?: number) => void;
}

export function progressBar(label: string, quiet = false): ProgressBar {
  if (quiet || !process.stderr.isTTY) return { update() {}, stop() {} };
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {done}/{all} | {rate} | ETA {eta_formatted}`,
      hideCursor: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let started_ = false;
  const bar_: ProgressBar = {
    update(done, total) {
      const t = total ?? Math.max(done, 1);
      const rate = done / Math.max((Date.now() - started) / 1000, 0.001);
      const payload = { done: human(done), all: total === undefined ? '?' : human(total), rate: `${human(rate)}/s` };
      if (!started_) {
        bar.start(t, done, payload);
        started_ = true;
      } else {
        bar.setTotal(t);
        bar.update(done, payload);
      }
    },
    stop() {
      if (started_) bar.stop();
    },
  };
  bar_.onProgress = (d, t) => bar_.update(d, t);
  return bar_;
}
