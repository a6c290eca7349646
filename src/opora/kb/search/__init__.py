"""Knowledge-base search: stemmed full text (SQLite FTS5 / PostgreSQL tsvector), synonyms, typo
tolerance and highlights. Pure parts (query, synonyms, typos, highlight) know nothing of SQL."""
