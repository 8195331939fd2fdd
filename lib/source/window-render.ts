/**
 * Which renderer writes a window's file: PostgreSQL (copy-window.ts) where it writes the same bytes
 * as the JavaScript renderer, which stays the reference and takes everything else. One place
 * decides, so the freeze, the preview and the benchmark render alike.
 */

import { databaseRenderRefusal } from '../format/database-render';
import { renderWindow } from '../format/render';
import type { FormatSpec } from '../format/spec';
import type { PartSink, RenderContext, RenderResult } from '../format/types';
import { DatabaseRenderFallback, renderWindowInDatabase } from './copy-window';
import {
  PostgresTicketSource,
  type TicketBatch,
  type TicketSource,
  type WindowSelection,
} from './ticket-source';

type RenderPath = 'database' | 'javascript';

/**
 * Why the JavaScript renderer takes this window, or null when the database renders it. State-change
 * rows (state-changes.ts) are always rendered in JavaScript; so is any source other than the
 * PostgreSQL one (tests' fakes).
 */
function javascriptRenderReason(
  source: TicketSource,
  stateChanges: boolean,
  spec: FormatSpec,
  timeZone: string,
): string | null {
  if (stateChanges) return 'state-change rows';
  if (!(source instanceof PostgresTicketSource)) return 'not a PostgreSQL source';
  return databaseRenderRefusal(spec, timeZone || 'UTC');
}

/** Where the parts go: a new sink per attempt, and how to drop what a failed attempt wrote (e.g. ROLLBACK TO SAVEPOINT). */
interface SinkAttempts<S extends PartSink> {
  open(): Promise<S>;
  discard(sink: S): Promise<void>;
}

interface WindowRenderInput<S extends PartSink> {
  source: TicketSource;
  selection: WindowSelection;
  /** Whether the interface has state changes on (its rows come from state-changes.ts). */
  stateChanges: boolean;
  /** The window's rows for the JavaScript renderer (windowRows), only read when it renders. */
  javascriptRows: () => AsyncIterable<TicketBatch>;
  spec: FormatSpec;
  ctx: RenderContext;
  sinks: SinkAttempts<S>;
  /** Told why a window the database started went back to the JavaScript renderer. */
  onFallback?: (reason: string) => void;
}

/**
 * Renders the window with the database where it can, else (or when a value in the window turns
 * out to be one the database does not write alike) with the JavaScript renderer. Either way the
 * bytes are the same (test/database-render.test.ts).
 */
export async function renderWindowChoosingPath<S extends PartSink>(
  input: WindowRenderInput<S>,
): Promise<{ rendered: RenderResult; sink: S; path: RenderPath }> {
  const { source, spec, ctx, sinks } = input;
  if (javascriptRenderReason(source, input.stateChanges, spec, ctx.timeZone) === null) {
    const sink = await sinks.open();
    try {
      const rendered = await renderWindowInDatabase(
        source as PostgresTicketSource,
        input.selection,
        spec,
        ctx,
        sink,
      );
      return { rendered, sink, path: 'database' };
    } catch (error) {
      if (!(error instanceof DatabaseRenderFallback)) throw error;
      input.onFallback?.(error.message);
      await sinks.discard(sink);
    }
  }
  const sink = await sinks.open();
  const rendered = await renderWindow(input.javascriptRows(), spec, ctx, sink);
  return { rendered, sink, path: 'javascript' };
}
