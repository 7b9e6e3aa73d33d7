"""Extension points found through Python entry-point groups (answer backends, loaders).

Our own implementations register through the same entry points a third party's would
(see pyproject.toml); only a chosen implementation's module is imported.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, distributions

OUR_DISTRIBUTION = "rag"


def registered(group: str) -> dict[str, EntryPoint]:
    """Every entry point of `group` by name; ours are taken first, so a plugin cannot replace them."""
    ours: list[EntryPoint] = []
    theirs: list[EntryPoint] = []
    # Every distribution, not the first of each name: in a source checkout a stale
    # rag.egg-info on sys.path would otherwise hide the installed package's entry points.
    for distribution in distributions():
        entry_points = [ep for ep in distribution.entry_points if ep.group == group]
        (ours if distribution.metadata["Name"] == OUR_DISTRIBUTION else theirs).extend(entry_points)
    found: dict[str, EntryPoint] = {}
    for entry_point in ours + theirs:
        found.setdefault(entry_point.name, entry_point)
    return found
