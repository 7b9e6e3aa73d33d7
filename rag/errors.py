"""The one exception type a user sees: it says what was wrong and what to do."""


class RagError(Exception):
    """An error the user can act on; the CLI prints its message without a traceback."""


class IndexMismatchError(RagError):
    """The index on disk was built with other settings than the ones in use."""


class IndexMissingError(RagError):
    """There is no index at the configured folder."""


class IndexBusyError(RagError):
    """Another writer holds the index's lock; trying again later will work."""
