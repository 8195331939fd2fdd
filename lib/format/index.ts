/**
 * The file of an interface: its format specification (validated, stored as JSON with the
 * interface) and the streaming renderer that turns a window's tickets into one or more files.
 * docs/resellers.md documents the specification's fields.
 */

export { parseFormatSpec } from './parse';
export {
  DEFAULT_FORMAT_SPEC,
  DEFAULT_MAX_FILE_SIZE,
  DEFAULT_FILE_NAME_TEMPLATE,
  LIMITS,
  type FormatSpec,
  type ColumnSpec,
  type FieldColumnSpec,
  type ConstantColumnSpec,
  type TrailerSpec,
} from './spec';
export { FIELD_NAMES, type FieldName } from './fields';
export { renderWindow } from './render';
export type { RenderContext, FilePart, PartSink, RenderResult } from './types';
export { defaultFileName, slugify } from './filename';
export { MemorySink } from './memory-sink';
