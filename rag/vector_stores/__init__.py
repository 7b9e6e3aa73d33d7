"""Vector stores, found by name through the `rag.vector_stores` entry-point group.

FAISS (the default, files in the index folder) and Milvus (Lite from a file, or a
server by URI) register through the same door a third party's store would; only
the chosen store's module is imported.
"""

from __future__ import annotations

from rag import plugins
from rag.errors import RagError
from rag.vector_stores.base import StoreDescription, VectorHits, VectorStore

ENTRY_POINT_GROUP = "rag.vector_stores"

__all__ = [
    "StoreDescription",
    "VectorHits",
    "VectorStore",
    "store_class",
    "store_names",
]


def store_names() -> list[str]:
    """Names of every registered vector store, sorted."""
    return sorted(plugins.registered(ENTRY_POINT_GROUP))


def store_class(name: str) -> type[VectorStore]:
    """The class registered as vector store `name`."""
    registered = plugins.registered(ENTRY_POINT_GROUP)
    if name not in registered:
        known = ", ".join(sorted(registered)) or "none (is the package installed?)"
        raise RagError(f"No vector store named {name!r}. Registered vector stores: {known}.")
    try:
        found = registered[name].load()
    except ImportError as error:
        raise RagError(
            f"Vector store {name!r} cannot be imported ({error}); install its extra, "
            f"e.g. `pip install 'rag[{name}]'`."
        ) from None
    if not (isinstance(found, type) and issubclass(found, VectorStore)):
        raise RagError(
            f"Entry point {name!r} ({registered[name].value}) is not a "
            "rag.vector_stores.VectorStore subclass."
        )
    return found
