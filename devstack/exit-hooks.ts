/**
 * Last-resort cleanup of child processes and throwaway clusters when this Node process exits
 * without having stopped them (a failed test, an uncaught exception, `process.exit()`), so a
 * crashed run does not leave a Temporal server or a PostgreSQL cluster holding ports.
 *
 * Hooks run synchronously from the `exit` event (no promises can settle there). Signals that kill
 * Node outright (SIGKILL, or SIGINT/SIGTERM without a handler) skip them; the demo and the worker
 * install their own signal handlers and stop things properly.
 */

const hooks = new Set<() => void>();
let installed = false;

/** Registers `hook` to run at process exit; returns a function that unregisters it. */
export function onProcessExit(hook: () => void): () => void {
  if (!installed) {
    // One listener for all hooks: a test suite starts many servers and would otherwise trip
    // Node's MaxListenersExceededWarning.
    process.on('exit', runHooks);
    installed = true;
  }
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
  };
}

function runHooks(): void {
  for (const hook of hooks) {
    try {
      hook();
    } catch {
      // The process is exiting; one failed cleanup must not prevent the others.
    }
  }
  hooks.clear();
}
