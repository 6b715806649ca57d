"""The Study A hosts, one file each over the shared pieces of :mod:`imlib.study_a.hosts.base`."""
from __future__ import annotations

from imlib.study_a.hosts.base import Host
from imlib.study_a.hosts.imas import IMAS
from imlib.study_a.hosts.supervised import Supervised
from imlib.study_a.hosts.u2pl import U2PL
from imlib.study_a.hosts.unimatch import UniMatch

HOSTS: dict[str, type[Host]] = {h.key: h for h in (Supervised, U2PL, UniMatch, IMAS)}


def get_host(key: str) -> type[Host]:
    try:
        return HOSTS[key]
    except KeyError:
        raise ValueError(f"unknown Study A host {key!r}; known: {', '.join(HOSTS)}") from None


__all__ = ["HOSTS", "Host", "get_host"]
