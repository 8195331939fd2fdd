import v8 from 'node:v8';

/**
 * Inside an activity (an AsyncLocalStorage context) streaming a million-ticket window promotes
 * ~300 MB of short-lived rows to V8's old generation, which V8 lets grow to about four times its
 * live size (~60 MB in a worker) before a full collection: the worker's RSS rose ~160 MB.
 * Measured on that window (docs/performance.md): at 100% it rose ~60 MB while freezing and ~100 MB
 * while sending, at the same CPU; 50% saved 30 MB more for 15% more CPU. An operator's own
 * --heap-growing-percent / heap-size flags win. `barcodes preview` streams the same window and
 * uses the same setting.
 */
export const DEFAULT_HEAP_GROWING_PERCENT = 100;

/**
 * Sets V8's heap growing factor for this process. V8 reads it each time it recomputes the heap
 * limit, so setting it after start takes effect from the next collection (verified on Node 20).
 * Skipped when the process was started with heap-sizing flags of its own.
 */
export function limitHeapGrowth(percent: number | null): void {
  if (percent === null) return;
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  if (/--(heap[-_]growing[-_]percent|max[-_]old[-_]space[-_]size|optimize[-_]for[-_]size)/.test(given))
    return;
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}
