/**
 * The file of an interface: its format specification (validated, stored as JSON with the
 * interface) and the streaming renderer that turns a window's tickets into one or more files.
 * docs/resellers.md documents the specification's fields.
 */

export { parseFormatSpec } from './parse';
export { DEFAULT_FORMAT_SPEC, type FormatSpec } from './spec';
export { FIELD_NAMES, type FieldName } from './fields';
export { renderWindow } from './render';
export type { RenderContext, FilePart, PartSink, RenderResult } from './types';
export { defaultFileName, slugify } from './filename';
export { MemorySink } from './memory-sink';
