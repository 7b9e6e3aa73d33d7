"""Vector stores, found by name through the `rag.vector_stores` entry-point group.

FAISS (the default, files in the index folder) and Milvus (Lite from a file, or a
server by URI) register through the same door a third party's store would; only
the chosen store's module is imported.
"""

from __future__ import annotations

from rag import plugins
from rag.errors import RagError
from rag.vector_stores.base import ExternalVectorStore, StoreDescription, VectorHits, VectorStore

ENTRY_POINT_GROUP = "rag.vector_stores"

__all__ = [
    "ExternalVectorStore",
    "StoreDescription",
    "VectorHits",
    "VectorStore",
    "store_class",
    "store_names",
]


def store_names() -> list[str]:
    """Names of every registered vector store, sorted."""
    return sorted({*OUR_STORES, *plugins.registered(ENTRY_POINT_GROUP)})


# Ours, for an installed package whose metadata predates the entry-point group (an
# editable install not yet re-run): the same names and targets as pyproject.toml.
OUR_STORES = {
    "faiss": "rag.vector_stores.faiss_store:FaissVectorStore",
    "milvus": "rag.vector_stores.milvus_store:MilvusVectorStore",
}


def store_class(name: str) -> type[VectorStore]:
    """The class registered as vector store `name`."""
    from importlib.metadata import EntryPoint

    choices = {
        ours: EntryPoint(ours, target, ENTRY_POINT_GROUP) for ours, target in OUR_STORES.items()
    }
    choices.update(plugins.registered(ENTRY_POINT_GROUP))
    return plugins.load_class(ENTRY_POINT_GROUP, name, VectorStore, "vector store", choices)


def open_external(
    settings, index_folder, model: str, dimension: int, entry: dict | None, for_writing=False
) -> ExternalVectorStore:
    """The external store a generation's manifest `entry` names, or (writing) the settings' one."""
    name = settings.vector_store if for_writing else (entry or {}).get("kind", "faiss")
    found = store_class(name)
    if not issubclass(found, ExternalVectorStore):
        raise RagError(
            f"Vector store {name!r} is not an ExternalVectorStore: only FAISS keeps its "
            "vectors in the index folder, and a store of a package's own subclasses "
            "rag.vector_stores.ExternalVectorStore (see the README, Write your own vector store)."
        )
    return found.open(settings, index_folder, model, dimension, entry, for_writing)
