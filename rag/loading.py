"""Stage 1: read files from disk into `Document`s of plain text.

One loader per file format, each a `Loader` registered in the `rag.loaders` entry-point
group: ours (rag/loaders/) register through the same door a third party's would, and a
loader's module (and its library: pypdf, python-docx...) is imported only when a file of
its format is read. A loader turns one file into an `Extracted` text; this module gives
it its id, its title and its place names ("page 3", "slide 2", "sheet Budget").
"""

from __future__ import annotations

import codecs
import errno
import numbers
import os
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TextIO

from rag.errors import RagError
from rag.plugins import PluginOptions
from rag.types import Document

if TYPE_CHECKING:
    from rag.config import Settings

ENTRY_POINT_GROUP = "rag.loaders"
# A title is a short first line; longer first lines are prose, not titles.
MAX_TITLE_CHARS = 120
# A title made from a document's first sentence is cut to about this many characters.
SHORT_TITLE_CHARS = 60
# Short texts fit several legacy code pages equally well; these are the likeliest.
WESTERN_ENCODINGS = ("cp1252", "latin_1", "iso8859_15")
# A text's encoding is told from at most its first megabyte.
ENCODING_SAMPLE_BYTES = 1 << 20


class LoadError(RagError):
    """A file that cannot be read as a document; the message names the file."""


# A loader's own settings: subclass it with typed fields and defaults, name the subclass in
# `Loader.Options`, and read them as `self.options`; users set them in [loaders.NAME] or
# RAG_LOADER_NAME_OPTION. The one options base of every extension point.
LoaderOptions = PluginOptions


@dataclass(frozen=True)
class Extracted:
    """What a loader read from one file: the text that is indexed and quoted, and its parts."""

    text: str
    # From the file's metadata or its first heading; "" lets the first sentence stand in.
    title: str = ""
    # Character offset at which each page (slide, sheet) starts, and its name
    # ("page 3", "slide 2", "sheet Budget"); empty for a file without parts.
    part_starts: tuple[int, ...] = ()
    part_names: tuple[str, ...] = ()
    # What the user should know about this file: rows left out, pages read by OCR.
    notices: tuple[str, ...] = ()


class Loader(ABC):
    """Reads the files of one format. Subclass it, and register the class in pyproject.toml:

    [project.entry-points."rag.loaders"]
    myformat = "my_package.module:MyLoader"
    """

    # Its name: its options are read from [loaders.NAME] and RAG_LOADER_NAME_OPTION.
    name: ClassVar[str]
    # Lower-case file name endings this loader reads, with the dot: (".docx",).
    suffixes: ClassVar[tuple[str, ...]]
    description: ClassVar[str] = ""
    Options: ClassVar[type[LoaderOptions]] = LoaderOptions

    def __init__(self, options: LoaderOptions | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def extract(self, path: Path) -> Extracted:
        """Read `path`; raise LoadError, naming the file and what to do, for a bad one."""


@dataclass(frozen=True)
class FoundFile:
    path: Path
    doc_id: str


@lru_cache(maxsize=1)
def _loader_classes() -> dict[str, type[Loader]]:
    """Every registered loader class by the file suffix it reads (ours win a tie)."""
    from rag.config import note_once
    from rag.plugins import OUR_DISTRIBUTION, distribution_name, load_entry_point, registered

    by_suffix: dict[str, type[Loader]] = {}
    for entry_point in registered(ENTRY_POINT_GROUP).values():
        try:
            loader_class = load_entry_point(entry_point, Loader, "file loader")
        except RagError as error:
            # Every ingest loads every loader: a third party's broken one must not stop the
            # formats that work. Its files are then skipped as of an unknown type.
            if distribution_name(entry_point) == OUR_DISTRIBUTION:
                raise
            note_once(f"{error} Until then its files are skipped.")
            continue
        for suffix in loader_class.suffixes:
            suffix = suffix.lower()
            if not suffix.startswith(".") or len(suffix) < 2:
                note_once(
                    f"warning: the {loader_class.name} file loader claims the suffix "
                    f"{suffix!r}, which is no file ending (give '.{suffix.lstrip('.')}'); "
                    "it is ignored."
                )
                continue
            taken = by_suffix.setdefault(suffix, loader_class)
            if taken is not loader_class:
                note_once(
                    f"warning: the {taken.name} and {loader_class.name} file loaders both "
                    f"read {suffix} files; {taken.name} is used."
                )
    if not by_suffix:
        raise RagError(
            "No file loaders are registered: the installed package's metadata is stale. "
            "Run `make install` (or `pip install -e .`) again."
        )
    return by_suffix


def supported_suffixes() -> tuple[str, ...]:
    """The file name endings some registered loader reads, sorted."""
    return tuple(sorted(_loader_classes()))


def loader_classes() -> list[type[Loader]]:
    """Every registered loader class once, by name."""
    return sorted(set(_loader_classes().values()), key=lambda loader_class: loader_class.name)


class Loaders:
    """The loader of each format, made once with its options from the settings.

    An ingest makes one: a wrong option (`[loaders.pdf] ocr = "yes"`) stops it at the start,
    naming the option, rather than at the first PDF.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        from rag.config import Settings, note_once

        settings = settings if settings is not None else Settings()
        settings.warn_about_unclaimed_options("loaders", (c.name for c in loader_classes()))
        made: dict[type[Loader], Loader] = {}
        # Third parties' loaders that could not be made, and why: their files are skipped
        # saying so, and every other format is read.
        unusable: dict[type[Loader], str] = {}
        for loader_class in loader_classes():
            # Options set wrong (or one the loader needs, not set) stop the ingest at the
            # start, naming them: the user can put that right.
            options = settings.plugin_options("loaders", loader_class.name, loader_class.Options)
            try:
                made[loader_class] = loader_class(options)
            except Exception as error:  # a third party's constructor
                if _is_ours(loader_class):
                    raise
                problem = (
                    f"The {loader_class.name} file loader (from {_package_of(loader_class)}) "
                    f"failed to start: {type(error).__name__}: {error}."
                )
                unusable[loader_class] = problem
                note_once(f"{problem} Until then its files are skipped.")
        self._by_suffix = {
            suffix: made[loader_class]
            for suffix, loader_class in _loader_classes().items()
            if loader_class in made
        }
        self._unusable_by_suffix = {
            suffix: unusable[loader_class]
            for suffix, loader_class in _loader_classes().items()
            if loader_class in unusable
        }

    def for_suffix(self, suffix: str) -> Loader | None:
        """The loader for files ending in `suffix`, or None."""
        return self._by_suffix.get(suffix.lower())

    def load(self, path: Path, doc_id: str | None = None) -> tuple[Document, tuple[str, ...]]:
        """Read one file into a Document, with what the user should know about it ("path: ...")."""
        extracted = self.extract(path)
        doc_id = doc_id or document_id(path)
        document = Document(
            doc_id=doc_id,
            title=extracted.title.strip()[:MAX_TITLE_CHARS]
            or short_title(extracted.text)
            or doc_id,
            text=extracted.text,
            # Absolute: what the index records must not depend on the folder a command was
            # started in (a later `rag serve` elsewhere filters by folder, prunes, compares).
            source=printable_path(path.absolute()),
            page_starts=extracted.part_starts,
            page_names=extracted.part_names,
        )
        return document, tuple(f"{path}: {notice}" for notice in extracted.notices)

    def extract(self, path: Path) -> Extracted:
        """The text of `path` by the loader of its format; any failure becomes a LoadError."""
        loader = self.for_suffix(path.suffix)
        unusable = self._unusable_by_suffix.get(path.suffix.lower())
        if loader is None and unusable:
            raise LoadError(f"{path}: skipped: {unusable}")
        if loader is None:
            raise LoadError(
                f"{path}: unsupported file type {path.suffix or '(none)'!r}; "
                f"supported: {', '.join(supported_suffixes())}"
            )
        try:
            extracted = loader.extract(path)
        except LoadError:
            raise
        except OSError as error:
            raise LoadError(f"{path}: cannot read the file ({error.strerror or error}).") from None
        except MemoryError:
            raise LoadError(f"{path}: too large to read in the memory available.") from None
        except Exception as error:  # a damaged file must not stop an ingest of a thousand
            raise LoadError(
                f"{path}: the {loader.name} loader could not read it "
                f"({type(error).__name__}: {error}); is the file damaged?"
            ) from None
        if not isinstance(extracted, Extracted) or not isinstance(extracted.text, str):
            raise LoadError(
                f"{path}: the {loader.name} loader gave a {type(extracted).__name__}, not an "
                f"Extracted with its text (a bug in {_package_of(loader)})."
            )
        if not extracted.text.strip():
            raise LoadError(f"{path}: the file holds no text to index.")
        if not parts_fit(extracted.text, extracted.part_starts, extracted.part_names):
            raise LoadError(
                f"{path}: the {loader.name} loader gave its parts wrong offsets or names "
                f"(a bug in {_package_of(loader)})."
            )
        return extracted


def parts_fit(text: str, starts: Sequence[int], names: Sequence[str]) -> bool:
    """Whether each part starts inside `text`, none before the one it follows, and the
    parts are all named or none is: else a citation's "page 3" names the wrong part."""
    bounds = (0, *starts, len(text))
    return (
        len(names) in (0, len(starts))
        and all(isinstance(start, numbers.Integral) for start in starts)
        and all(a <= b for a, b in zip(bounds, bounds[1:], strict=False))
    )


# Longer ids cannot be file names, nor fit every vector store's id column.
MAX_ID_BYTES = 255


def document_problem(document: Document) -> str:
    """What keeps `document` out of the index, "" when nothing: a document given in memory
    (`Pipeline.ingest_documents`) is held to what a file's loader is."""
    for name in ("doc_id", "title", "text", "source"):
        value = getattr(document, name)
        if not isinstance(value, str):
            return f"its {name} is a {type(value).__name__}, not text"
    doc_id = document.doc_id
    if not doc_id.strip() or printable_id(doc_id) != doc_id or "/" in doc_id:
        return "its id must be printable text on one line, without '/'"
    if len(doc_id.encode("utf-8")) > MAX_ID_BYTES:
        return f"its id is longer than {MAX_ID_BYTES} bytes"
    if not document.text.strip():
        return "it holds no text to index"
    try:
        document.text.encode("utf-8")
        document.title.encode("utf-8")
    except UnicodeEncodeError:
        return "its text holds a lone surrogate, which is no Unicode character"
    if not parts_fit(document.text, document.page_starts, document.page_names):
        return "its page_starts and page_names do not fit its text"
    return ""


def _package_of(loader: Loader | type[Loader]) -> str:
    """The package a loader comes from, for messages: "the rag-org-loader package"."""
    module = (loader if isinstance(loader, type) else type(loader)).__module__
    top = module.partition(".")[0]
    return "this project" if top == "rag" else f"the {top} module"


def _is_ours(loader_class: type[Loader]) -> bool:
    return loader_class.__module__.partition(".")[0] == "rag"


@lru_cache(maxsize=1)
def default_loaders() -> Loaders:
    """Every loader with its default options: for reading a file outside an ingest."""
    return Loaders()


def loader_options_in_effect(settings: Settings) -> dict[str, LoaderOptions | str]:
    """Each registered loader's options as `settings` set them, or why they cannot be read."""
    from rag.plugins import options_in_effect

    classes = [(c.name, lambda c=c: c) for c in loader_classes()]
    return options_in_effect(settings, "loaders", classes)


def document_id(path: Path) -> str:
    """A document's id is its file name without the extension, printable on one line.

    A file name may hold a newline, a tab or a right-to-left override; each such
    control or format character becomes "_", so that `rag docs` shows one row per
    document and an id reads as it is stored.
    """
    return printable_id(path.stem)


def printable_id(name: str) -> str:
    """`name` as ids are stored: undecodable bytes as U+FFFD, controls and formats as "_".

    Also what `rag remove` makes of the ids it is given, so a file's own name, typed in a
    shell as it is on disk, finds its document.
    """
    return "".join(
        "_" if unicodedata.category(char) in _UNPRINTABLE else char for char in printable_path(name)
    )


# Unicode categories of characters that move or hide text: controls, formats, line breaks.
_UNPRINTABLE = {"Cc", "Cf", "Zl", "Zp"}


def printable_path(name: str | Path) -> str:
    """`name` as valid text: bytes of a file name that are not UTF-8 become U+FFFD.

    Python keeps such bytes as lone surrogates, which cannot be written to the
    index's UTF-8 files or shown in a page.
    """
    return os.fsencode(name).decode("utf-8", errors="replace")


def find_files(paths: Iterable[Path]) -> tuple[list[FoundFile], list[str]]:
    """Expand files and folders into the supported files under them, sorted.

    Returns the files and a list of problems (missing paths, unsupported files
    named directly) that the caller reports without stopping.
    """
    suffixes = set(supported_suffixes())
    found: list[FoundFile] = []
    problems: list[str] = []
    for path in paths:
        if path.is_dir():
            before = len(found)
            for candidate in sorted(path.rglob("*")):
                relative = candidate.relative_to(path).parts
                # Hidden files, and the lock files Office leaves beside an open document.
                if any(part.startswith((".", "~$")) for part in relative):
                    continue
                if candidate.is_file() and candidate.suffix.lower() in suffixes:
                    found.append(FoundFile(candidate, document_id(candidate)))
                elif candidate.is_symlink() and not candidate.exists():
                    # exists() follows the link: False for one that points nowhere or in a loop.
                    problems.append(f"{candidate}: {_broken_link(candidate)}")
            if len(found) == before:
                # Said, or a folder of .rtf files (or the wrong folder) is "0 added" in silence.
                problems.append(
                    f"{path}: no file of a supported type in this folder "
                    f"({', '.join(sorted(suffixes))}; hidden files are left out)"
                )
        elif path.is_file():
            if path.suffix.lower() in suffixes:
                found.append(FoundFile(path, document_id(path)))
            else:
                problems.append(
                    f"{path}: unsupported file type {path.suffix or '(none)'!r}; "
                    f"supported: {', '.join(sorted(suffixes))}"
                )
        else:
            problems.append(f"{path}: no such file or folder")
    return found, problems


def _broken_link(link: Path) -> str:
    """Why a symbolic link leads to no file: it loops, or its target is missing."""
    try:
        link.resolve(strict=True)
    except RuntimeError:
        return "a symbolic link that loops"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symbolic link that loops"
    return f"a symbolic link to {os.readlink(link)}, which does not exist"


def load_document(path: Path, doc_id: str | None = None) -> Document:
    """Read one file into a Document (default loader options), or raise LoadError saying why."""
    return load_with_notices(path, doc_id)[0]


def load_with_notices(
    path: Path, doc_id: str | None = None, loaders: Loaders | None = None
) -> tuple[Document, tuple[str, ...]]:
    """Read one file into a Document, with what the user should know about it ("path: ...")."""
    return (loaders or default_loaders()).load(path, doc_id)


def extract(path: Path, loaders: Loaders | None = None) -> Extracted:
    """The text of `path` by the loader of its format; any failure becomes a LoadError."""
    return (loaders or default_loaders()).extract(path)


def short_title(text: str) -> str:
    """A title made from the first sentence, cut at a word boundary with an ellipsis."""
    first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]
    first = " ".join(first.split()).rstrip(".")
    if len(first) <= SHORT_TITLE_CHARS:
        return first
    cut = first[: SHORT_TITLE_CHARS + 1].rsplit(" ", 1)[0] if " " in first else ""
    # One long word (a URL, a hash) is cut where it must be.
    cut = (cut or first[:SHORT_TITLE_CHARS]).rstrip(" ,;:-–—")
    return cut + "…"


def heading_title(text: str) -> str:
    """A short first line followed by a blank line reads as a heading; else ""."""
    first_line, _, rest = text.strip().partition("\n")
    if (
        0 < len(first_line) <= MAX_TITLE_CHARS
        and rest.startswith("\n")
        and not first_line.endswith(".")
    ):
        return first_line.strip()
    return ""


@dataclass(frozen=True)
class TextOptions(LoaderOptions):
    # The text encoding of these files, e.g. "cp1251" or "shift_jis"; "" detects it (UTF-8,
    # a byte-order mark, else the likeliest code page, Western European in a tie). Set it
    # when short files in a non-Western code page come out as accented gibberish.
    encoding: str = ""

    def __post_init__(self) -> None:
        if self.encoding:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValueError(
                    f"option 'encoding' must name a text encoding Python knows "
                    f"(utf-8, cp1252, cp1251, shift_jis...); got {self.encoding!r}."
                ) from None


def decode_text(raw: bytes, path: Path, encoding: str = "") -> str:
    """Decode bytes as text: a byte-order mark's encoding, else `encoding`, else UTF-8, else
    the detected one.

    Binary files (images renamed .txt and the like) are refused rather than
    indexed as mojibake.
    """
    chosen = text_encoding(raw, path, encoding)
    if chosen in _BOM_ENCODINGS or chosen == encoding:
        try:
            return clean_text(raw.decode(chosen))
        except (UnicodeDecodeError, LookupError) as error:
            if chosen in _BOM_ENCODINGS:
                raise LoadError(
                    f"{path}: starts with a {chosen} mark but is not valid {chosen}."
                ) from None
            raise LoadError(
                f"{path}: not valid {encoding} text ({error}); fix the loader option "
                'encoding, or set it to "" to detect the encoding.'
            ) from None
    return clean_text(raw.decode(chosen, errors="replace"))


def text_encoding(sample: bytes, path: Path, encoding: str = "", complete: bool = True) -> str:
    """The encoding of a text file whose first bytes are `sample` (all of it when `complete`):
    a byte-order mark's, else `encoding` (the loader option), else UTF-8, else the detected one.

    A file too large to hold in memory is streamed in the encoding its first megabyte
    shows; a LoadError for a binary file.
    """
    for bom, marked in _BOMS:
        if sample.startswith(bom):
            return marked
    if encoding:
        return encoding
    if b"\x00" in sample[:8192]:
        raise LoadError(f"{path}: looks like a binary file, not text.")
    try:
        # Incremental: a sample may end inside a character.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(sample[:ENCODING_SAMPLE_BYTES]))
    if not matches:
        raise LoadError(f"{path}: not UTF-8 and no other text encoding fits; is it binary?")
    # Short texts fit several code pages equally well; Western European is the likeliest.
    western = [m for m in matches if m.encoding in WESTERN_ENCODINGS]
    return (western or matches)[0].encoding


def open_text(path: Path, encoding: str = "") -> TextIO:
    """A text file opened to be read as it streams, in the encoding `text_encoding` finds
    in its first megabyte.

    Lines are split but not translated (newline=""), as the csv module wants. A file read
    as UTF-8 whose later bytes are not (a Latin-1 name far down a list) reads those bytes
    as Windows-1252, the likeliest legacy encoding, rather than failing half way; in any
    other encoding a byte that does not fit becomes U+FFFD.
    """
    with open(path, "rb") as file:
        sample = file.read(ENCODING_SAMPLE_BYTES)
    complete = len(sample) < ENCODING_SAMPLE_BYTES
    chosen = text_encoding(sample, path, encoding, complete=complete)
    errors = _WESTERN_FALLBACK if chosen == "utf-8" and not encoding else "replace"
    return open(path, encoding=chosen, errors=errors, newline="")


def _western_fallback(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    undecoded = error.object[error.start : error.end]
    return bytes(undecoded).decode(WESTERN_ENCODINGS[0], errors="replace"), error.end


_WESTERN_FALLBACK = "rag-western-fallback"
codecs.register_error(_WESTERN_FALLBACK, _western_fallback)

# Byte-order marks, UTF-32's first: it begins with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BOM_ENCODINGS = {encoding for _, encoding in _BOMS}


# Latin ligatures (U+FB00-FB06: ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ), which PDF text is full of, as their letters:
# a word spelled with one ("ﬁnal") matches no question typed on a keyboard, in BM25 or the
# embedding model's vocabulary alike.
LIGATURES = str.maketrans(
    {chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}
)


def clean_text(text: str) -> str:
    """Unix line ends, ligatures spelled out, and no control characters: line ends and
    control characters would otherwise end up in quotes."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(LIGATURES)
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", " ", text)


def join_parts(parts: Iterable[tuple[str, str]]) -> tuple[str, tuple[int, ...], tuple[str, ...]]:
    """Join (name, text) parts with blank lines: the text, each part's start and its name."""
    starts: list[int] = []
    names: list[str] = []
    texts: list[str] = []
    offset = 0
    for name, text in parts:
        starts.append(offset)
        names.append(name)
        texts.append(text)
        offset += len(text) + 2  # the "\n\n" that joins parts
    return "\n\n".join(texts), tuple(starts), tuple(names)
