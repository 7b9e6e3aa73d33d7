"""Chunk vectors in Milvus: Milvus Lite from a local file, or a server or cluster by URI.

The same `pymilvus` client talks to both, so what the tests run on Milvus Lite is
the code a cluster runs. Document texts, spans and sentence vectors stay in the
index folder (the citations are cut from those texts); Milvus holds one row per
chunk: its document, its number, the generation that wrote it, its vector and
(for Milvus's own BM25) its text.

No partial document is ever visible. An ingest writes the changed documents' rows
tagged with the new generation number, which readers of the live generation do not
see (`born <= live`); then the index folder's CURRENT flips; only then are the
superseded rows deleted. A reader of the new generation hides the superseded rows
meanwhile with its filter (`doc_id not in changed`), and a killed ingest's rows
(born after the live generation) are deleted by the next writer before it writes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from rag.errors import REBUILD_HINT, IndexMismatchError, RagError
from rag.vector_stores.base import ExternalVectorStore, StoreDescription, VectorHits

# Milvus Lite's file in the index folder, when milvus_uri is "".
LITE_FILE = "milvus.db"

MODEL_PROPERTY = "rag.model"
DIMENSION_PROPERTY = "rag.dimension"
# A Milvus VARCHAR holds at most 65,535 bytes; chunk texts are ~200 tokens.
MAX_TEXT_BYTES = 65_535
MAX_DOC_ID_BYTES = 4_096
# Rows per insert call: gRPC messages stay well under Milvus's 64 MB default.
INSERT_BATCH = 2_000
# Seconds before an unreachable server is reported, not waited on.
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class MilvusOptions:
    """Where the collection lives; read from the `milvus_*` settings."""

    # A file path (Milvus Lite, in-process) or http(s)://host:19530 (a server or cluster).
    uri: str
    # The name of the environment variable that holds the token ("user:password" or an
    # API key), never the token itself; "" sends none.
    token_env: str = ""
    # "" derives one from the index folder.
    collection: str = ""

    @property
    def is_server(self) -> bool:
        return bool(re.match(r"^(https?|tcp|grpc)://", self.uri))

    def token(self) -> str:
        if not self.token_env:
            return ""
        token = os.environ.get(self.token_env, "")
        if not token:
            raise RagError(
                f"Setting milvus_token_env names ${self.token_env}, which is not set; export the "
                f'token for {self.uri} in it, or set milvus_token_env = "" for no token.'
            )
        return token


def collection_name(index_folder) -> str:
    """A collection name from the index folder: its name, made safe, and a short hash of its path."""
    import hashlib

    resolved = str(Path(index_folder).resolve())
    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(resolved).name)[:40] or "index"
    return f"rag_{stem}_{hashlib.sha1(resolved.encode()).hexdigest()[:10]}"


def _inside(uri: str, folder: Path) -> bool:
    """Whether `uri` is a Milvus Lite file inside `folder`."""
    return "://" not in uri and Path(uri).resolve().is_relative_to(folder)


def _quoted(values: Iterable[str]) -> str:
    """A Milvus expression list of string literals (JSON's \\ and \" escapes, which Milvus parses)."""
    return "[" + ", ".join(json.dumps(value, ensure_ascii=False) for value in values) + "]"


class MilvusVectorStore(ExternalVectorStore):
    """One collection; a reader sees generation `visible` of it, a writer writes `writing`."""

    name = "milvus"

    def __init__(
        self,
        options: MilvusOptions,
        collection: str,
        *,
        model: str,
        dimension: int,
        visible: int = 0,
        changed: frozenset[str] | None = None,
        full_text: bool = True,
    ) -> None:
        self.options = options
        self.collection = collection
        self.model = model
        self.dimension = dimension
        # Rows born after `visible` are a writer's work in progress. `changed` (None: every
        # document) are the documents whose rows born before `visible` are superseded.
        self.visible = visible
        self.changed = changed
        self.full_text = full_text
        self.writing = visible
        self._next_changed: frozenset[str] | None = None
        self._client = None
        # The index folder whose generations record this store (set by `open`).
        self.index_folder: Path | None = None

    # -- the generation's record ---------------------------------------------------------
    @classmethod
    def open(cls, settings, index_folder, model, dimension, entry, for_writing=False):
        """A reader: the store `entry` names. A writer: the settings' store, at `entry`'s point."""
        folder = Path(index_folder).resolve()
        recorded = cls._recorded_uri(entry, folder)
        if for_writing or recorded is None:
            uri = settings.milvus_uri or str(folder / LITE_FILE)
            if "://" not in uri:
                # Milvus Lite resolves a relative path against its own working directory.
                uri = str(Path(uri).resolve())
            # A Lite file inside the index folder moves and is copied with it: its
            # collection stays the one recorded. Any other place is shared, and each
            # index folder has a collection of its own there.
            inside = recorded == uri and _inside(uri, folder)
            collection = entry["collection"] if inside else collection_name(index_folder)
        else:
            uri, collection = recorded, entry["collection"]
        store = cls(
            MilvusOptions(uri, settings.milvus_token_env),
            collection,
            model=model,
            dimension=dimension,
            full_text=settings.milvus_bm25 == "milvus",
        )
        store.index_folder = folder
        if store.same_place(entry):
            changed = entry.get("changed")
            store.visible = store.writing = int(entry["generation"])
            store.changed = None if changed is None else frozenset(changed)
            store._next_changed = store.changed
        if not for_writing:
            store.check()
        return store

    @classmethod
    def _recorded_uri(cls, entry, folder) -> str | None:
        """The uri a generation's record names, a Lite file inside the index folder
        recorded relative to it; None when the record is not of a Milvus store."""
        if not entry or entry.get("kind") != cls.name:
            return None
        uri = str(entry["uri"])
        if "://" in uri:
            return uri
        if not Path(uri).is_absolute():
            return str(folder / uri)
        # Recorded absolute before records were relative: an index folder moved since
        # holds its Lite file under the same name.
        moved = folder / LITE_FILE
        if Path(uri).name == LITE_FILE and not Path(uri).exists() and moved.exists():
            return str(moved)
        return uri

    def same_place(self, entry) -> bool:
        if self.index_folder is None:
            recorded = entry.get("uri") if entry and entry.get("kind") == self.name else None
        else:
            recorded = self._recorded_uri(entry, self.index_folder)
        return recorded == self.options.uri and entry.get("collection") == self.collection

    def to_manifest(self) -> dict[str, Any]:
        uri = self.options.uri
        if self.index_folder is not None and _inside(uri, self.index_folder):
            # Relative: a moved or copied index folder opens its own file, not the old path.
            uri = str(PurePosixPath(Path(uri).relative_to(self.index_folder)))
        return {
            "kind": self.name,
            "uri": uri,
            "collection": self.collection,
            "generation": self.writing,
            "changed": None if self._next_changed is None else sorted(self._next_changed),
        }

    def begin(self, changed: frozenset[str] | None) -> None:
        """Start writing the next generation, `changed` documents (None: all) superseded.

        First what a killed writer left (rows born after the live generation) and what
        the live one superseded but a crash kept it from deleting are deleted.
        """
        self.ensure_collection(replace_other_model=changed is None)
        self.collect_garbage()
        self.writing = self.visible + 1
        self._next_changed = changed

    def after_commit(self) -> None:
        """The generation written is live: read it from now on, and drop what it superseded."""
        self.visible, self.changed = self.writing, self._next_changed
        self.collect_garbage()
        # Sealed segments are searched through their index: 5-10x faster than growing ones.
        self._call("flush", "flush", self.collection)

    # -- connection -------------------------------------------------------------------
    def _fault(self, action: str, error: Exception) -> RagError:
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        lowered = message.lower()
        if self.options.is_server:
            hint = (
                "Check that the Milvus server is running and reachable, and that the token "
                f"in ${self.options.token_env or 'milvus_token_env'} is right."
            )
        elif "parquet" in lowered or "corrupt" in lowered or "manifest" in lowered:
            hint = (
                f"The file looks damaged: move {self.options.uri} aside and rebuild the "
                "index (`rag ingest --rebuild PATH ...`)."
            )
        else:
            hint = (
                "Check that the file is writable and not opened by another process (Milvus "
                "Lite is one process's file: a `rag chat` or `rag serve` holds it)."
            )
        return RagError(f"Milvus at {self.options.uri} failed to {action}: {message}. {hint}")

    @property
    def client(self):
        if self._client is None:
            import logging

            from pymilvus import MilvusClient

            # pymilvus and Milvus Lite log each failure with a traceback; ours says what to
            # do instead.
            for name in ("pymilvus", "milvus_lite"):
                logging.getLogger(name).setLevel(logging.CRITICAL)

            token = self.options.token()
            try:
                self._client = MilvusClient(
                    uri=self.options.uri, token=token, timeout=CONNECT_TIMEOUT_S
                )
            except Exception as error:  # pymilvus raises its own and grpc's errors
                raise self._fault("connect", error) from None
        return self._client

    def _call(self, action: str, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except RagError:
            raise
        except Exception as error:
            if (
                "collection not found" in str(error).lower()
                or "can't find collection" in str(error).lower()
            ):
                raise self._missing() from None
            raise self._fault(action, error) from None

    def _missing(self) -> RagError:
        return RagError(
            f"The Milvus collection {self.collection!r} at {self.options.uri} is gone (dropped "
            f"outside rag?); the index folder still names it. {REBUILD_HINT}"
        )

    # -- the collection ---------------------------------------------------------------
    def check(self) -> None:
        """Raise if the collection is missing or was built with another model or dimension."""
        if not self._call("list collections", "has_collection", self.collection):
            raise self._missing()
        described = self._call("describe the collection", "describe_collection", self.collection)
        properties = described.get("properties") or {}
        built = (properties.get(MODEL_PROPERTY), properties.get(DIMENSION_PROPERTY))
        wanted = (self.model, str(self.dimension))
        if built == wanted:
            # Another process created it, or a server released it: searchable only loaded.
            self._call("load the collection", "load_collection", self.collection)
            return
        raise IndexMismatchError(
            f"The Milvus collection {self.collection!r} at {self.options.uri} holds vectors "
            f"of model {built[0]!r} ({built[1]} dimensions); the settings ask for "
            f"{wanted[0]!r} ({wanted[1]}). Rebuild it: `rag ingest --rebuild "
            f"--vector-store milvus PATH ...`, or change the settings back."
        )

    def ensure_collection(self, replace_other_model: bool = False) -> None:
        """Create the collection (schema, indexes, model and dimension) unless it exists.

        `replace_other_model` (a rebuild): one built with another model is dropped first;
        the index it served could not be searched with this model anyway.
        """
        if self._call("list collections", "has_collection", self.collection):
            try:
                self.check()
                return
            except IndexMismatchError:
                if not replace_other_model:
                    raise
                self.drop()
        from pymilvus import DataType, Function, FunctionType

        schema = self.client.create_schema(auto_id=True, enable_dynamic_field=False)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_DOC_ID_BYTES)
        schema.add_field("number", DataType.INT64)
        schema.add_field("born", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dimension)
        index_params = self.client.prepare_index_params()
        # Exact search, like FAISS's default flat index; a server may use HNSW or IVF
        # (README, Milvus) without any change here.
        index_params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        index_params.add_index(field_name="doc_id", index_type="INVERTED")
        # Always, so that `milvus_bm25` can be switched either way without a rebuild.
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["text"],
                output_field_names=["sparse"],
            )
        )
        index_params.add_index(
            field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25"
        )
        self._call(
            "create the collection",
            "create_collection",
            self.collection,
            schema=schema,
            index_params=index_params,
            consistency_level="Strong",
            properties={MODEL_PROPERTY: self.model, DIMENSION_PROPERTY: str(self.dimension)},
        )

    def _visible_filter(self) -> str:
        clause = f"born <= {int(self.visible)}"
        if self.changed is None:
            return f"born == {int(self.visible)}"
        if self.changed:
            clause += f" and (born == {int(self.visible)} or doc_id not in {_quoted(sorted(self.changed))})"
        return clause

    # -- writing ----------------------------------------------------------------------
    def add(
        self, doc_id: str, chunk_vectors: np.ndarray, texts: Sequence[str] | None = None
    ) -> None:
        chunk_vectors = np.asarray(chunk_vectors, dtype=np.float32)
        if chunk_vectors.ndim != 2 or (
            len(chunk_vectors) and chunk_vectors.shape[1] != self.dimension
        ):
            raise RagError(
                f"Document {doc_id!r}: vectors of shape {chunk_vectors.shape} for a "
                f"{self.dimension}-dimension Milvus collection {self.collection!r}."
            )
        rows = []
        for number, vector in enumerate(chunk_vectors):
            row = {
                "doc_id": doc_id,
                "number": number,
                "born": self.writing,
                "vector": vector.tolist(),
            }
            text = texts[number] if texts is not None else ""
            # A text over Milvus's limit is cut for BM25 only; citations use the folder's.
            row["text"] = text.encode("utf-8", "ignore")[:MAX_TEXT_BYTES].decode("utf-8", "ignore")
            rows.append(row)
        for begin in range(0, len(rows), INSERT_BATCH):
            self._call(
                "insert vectors", "insert", self.collection, rows[begin : begin + INSERT_BATCH]
            )

    def delete(self, doc_ids: Iterable[str]) -> None:
        doc_ids = sorted(set(doc_ids))
        if doc_ids:
            self._call(
                "delete vectors", "delete", self.collection, filter=f"doc_id in {_quoted(doc_ids)}"
            )

    def collect_garbage(self) -> None:
        """Delete the rows the live generation (`visible`) superseded, and any born after it."""
        live = int(self.visible)
        if self.changed is None:
            expression = f"born != {live}"
        elif self.changed:
            expression = (
                f"born > {live} or (born < {live} and doc_id in {_quoted(sorted(self.changed))})"
            )
        else:
            expression = f"born > {live}"
        self._call("delete superseded vectors", "delete", self.collection, filter=expression)

    # -- reading ----------------------------------------------------------------------
    def count(self) -> int:
        result = self._call(
            "count",
            "query",
            self.collection,
            filter=self._visible_filter(),
            output_fields=["count(*)"],
        )
        return int(result[0]["count(*)"]) if result else 0

    def describe(self) -> StoreDescription:
        return StoreDescription(
            self.name,
            f"{self.options.uri} (collection {self.collection})",
            self.model,
            self.dimension,
            self.count(),
            full_text="milvus" if self.full_text else "local",
        )

    def vectors(self, doc_id: str) -> np.ndarray:
        return self.chunk_vectors([doc_id], [0], all_of_document=True)

    def chunk_vectors(
        self, doc_ids: Sequence[str], numbers: Sequence[int], all_of_document: bool = False
    ) -> np.ndarray:
        """Vectors of the chunks (doc_ids[i], numbers[i]), in that order, in one query."""
        if not doc_ids:
            return np.zeros((0, self.dimension), dtype=np.float32)
        expression = f"({self._visible_filter()}) and doc_id in {_quoted(sorted(set(doc_ids)))}"
        found = self._call(
            "read vectors",
            "query",
            self.collection,
            filter=expression,
            output_fields=["doc_id", "number", "vector"],
        )
        by_key = {(r["doc_id"], int(r["number"])): r["vector"] for r in found}
        if all_of_document:
            keys = sorted(by_key)
        else:
            keys = list(zip(doc_ids, (int(n) for n in numbers), strict=True))
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray([by_key[key] for key in keys], dtype=np.float32)

    def _filter(self, doc_ids: frozenset[str] | None) -> str:
        expression = self._visible_filter()
        if doc_ids is not None:
            expression = f"({expression}) and doc_id in {_quoted(sorted(doc_ids))}"
        return expression

    def search(
        self, vector: np.ndarray, k: int, doc_ids: frozenset[str] | None = None
    ) -> VectorHits:
        query = np.asarray(vector, dtype=np.float32).tolist()
        return self._search(query, "vector", "IP", k, doc_ids)

    def search_text(
        self, question: str, k: int, doc_ids: frozenset[str] | None = None
    ) -> VectorHits:
        """Milvus's own BM25 over the chunk texts, filtered inside the search like `search`."""
        return self._search(question, "sparse", "BM25", k, doc_ids)

    def _search(
        self, query: Any, field: str, metric: str, k: int, doc_ids: frozenset[str] | None
    ) -> VectorHits:
        found = []
        if k > 0 and doc_ids != frozenset():
            result = self._call(
                f"search ({metric})",
                "search",
                self.collection,
                data=[query],
                anns_field=field,
                limit=k,
                filter=self._filter(doc_ids),
                output_fields=["doc_id", "number"],
                search_params={"metric_type": metric},
            )
            found = result[0] if result else []
        return VectorHits(
            tuple(hit["entity"]["doc_id"] for hit in found),
            np.asarray([hit["entity"]["number"] for hit in found], dtype=np.int64),
            np.asarray([hit["distance"] for hit in found], dtype=np.float32),
        )

    def drop(self) -> None:
        """Remove the collection (tests; a rebuild elsewhere)."""
        self._call("drop the collection", "drop_collection", self.collection)
