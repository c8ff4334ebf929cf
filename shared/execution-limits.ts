/**
 * The limits on an execution's tags and metadata, and tags in their stored form, without zod: the schemas (shared/schemas.ts)
 * and the dashboard (which bundles no validation library) read the same numbers. The database
 * checks the same (public.execution_tags_are_valid, public.execution_metadata_is_valid).
 */
export const tagLimits = { maxTags: 10, pattern: /^[A-Za-z0-9_.:/-]{1,64}$/ } as const;
export const metadataLimits = { maxKeys: 16, keyPattern: /^[A-Za-z0-9_-]{1,64}$/, maxStringLength: 256, maxBytes: 4096 } as const;

/** What a tag may be, in words (the 400's message and the dashboard's hint). */
export const tagRule = "1 to 64 characters of A-Z a-z 0-9 _ . : / -";

/** Tags as the database stores them: a set, sorted by code unit (= byte order for the allowed characters). */
export const normalizeTags = (tags: readonly string[]) => [...new Set(tags)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
