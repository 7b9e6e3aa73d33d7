"""The one exception type a user sees: it says what was wrong and what to do."""

# What to do about an index that is damaged or was built otherwise: every part of the
# index (manifest, vectors, BM25) says it in these words.
REBUILD_HINT = "Rebuild it with `rag ingest --rebuild` (add your document paths)."


class RagError(Exception):
    """An error the user can act on; the CLI prints its message without a traceback."""


class IndexMismatchError(RagError):
    """The index on disk was built with other settings than the ones in use."""


class IndexMissingError(RagError):
    """There is no index at the configured folder."""


class IndexBusyError(RagError):
    """Another writer holds the index's lock; trying again later will work."""


class LastDocumentError(RagError):
    """A removal would leave the index empty, which cannot be searched; nothing was removed."""
