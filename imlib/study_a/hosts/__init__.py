"""The Study A hosts, one file each over the shared pieces of :mod:`imlib.study_a.hosts.base`.

They are registered once, in :mod:`imlib.methods.registry` (``study="a"``, kind ``study-a-host``, the Host class
as the entry's ``objective``); this package only looks them up there.
"""
from __future__ import annotations

from imlib.study_a.hosts.base import Host


def hosts() -> dict[str, type[Host]]:
    """key -> Host class, in the paper's row order (Supervised, U2PL, UniMatch, iMAS, UniMatch V2, SegKC)."""
    from imlib.methods.registry import methods

    return {m.key: m.objective for m in methods(study="a", kind="study-a-host")}


def get_host(key: str) -> type[Host]:
    known = hosts()
    if key not in known:
        raise ValueError(f"unknown Study A host {key!r}; known: {', '.join(known)}")
    return known[key]


__all__ = ["Host", "get_host", "hosts"]
