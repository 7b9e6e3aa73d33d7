"""Retrieval-augmented Q&A over your own documents, with verbatim citations.

The public API: `Settings`/`load_settings` (rag.config), `Pipeline` (rag.pipeline),
the records in `rag.types`, and the backend contract in `rag.backends`.
"""

__version__ = "0.1.0"
