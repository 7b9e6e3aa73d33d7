"""An example file loader: Emacs Org-mode notes (.org), with one option of its own."""

import re
from dataclasses import dataclass
from pathlib import Path

from rag.loading import Extracted, Loader, LoaderOptions, decode_text


@dataclass(frozen=True)
class OrgOptions(LoaderOptions):
    # Index comment lines ("# ..."), which Org leaves out of what it exports.
    comments: bool = False


class OrgLoader(Loader):
    name = "org"
    suffixes = (".org",)
    description = "Org-mode notes; #+TITLE: is the title (an example plugin)"
    # Read from [loaders.org] in rag.toml or RAG_LOADER_ORG_COMMENTS, checked for us.
    Options = OrgOptions

    def extract(self, path: Path) -> Extracted:
        title = ""
        lines = []
        for line in decode_text(path.read_bytes(), path).splitlines():
            keyword = re.match(r"#\+(\w+):\s*(.*)", line)
            if keyword:
                if keyword.group(1).upper() == "TITLE":
                    title = keyword.group(2).strip()
                continue
            if line.startswith("# ") and not self.options.comments:
                continue
            lines.append(line.lstrip("*# ").rstrip())
        return Extracted("\n".join(lines).strip(), title=title)
