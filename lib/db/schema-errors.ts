/**
 * Whether a PostgreSQL error says the database itself is not as the code expects (a table, column
 * or schema missing, a privilege revoked): retrying cannot help, only a repair. Connection losses,
 * timeouts and serialization failures are not: they pass with time.
 */
export function isSchemaDamage(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || code.length !== 5) return false;
  // Class 42: syntax error or access rule violation (42P01 undefined_table, 42703 undefined_column,
  // 42501 insufficient_privilege, 42883 undefined_function); 3F000: invalid schema name.
  return code.startsWith('42') || code === '3F000';
}
