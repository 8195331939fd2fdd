import { ALL_SEARCH_ATTRIBUTES } from '../../workflows/boundary';

const DEV_SERVER_TYPE = { KEYWORD: 'Keyword', DATETIME: 'Datetime', INT: 'Int' } as const;

/** The product's search attributes in the form `temporal server start-dev --search-attribute` takes. */
export function devServerSearchAttributes(): Record<string, 'Keyword' | 'Datetime' | 'Int'> {
  return Object.fromEntries(
    ALL_SEARCH_ATTRIBUTES.map((key) => [key.name, DEV_SERVER_TYPE[key.type as keyof typeof DEV_SERVER_TYPE]]),
  );
}
