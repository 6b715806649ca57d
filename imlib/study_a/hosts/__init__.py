"""The Study A hosts, one file each over the shared pieces of :mod:`imlib.study_a.hosts.base`."""
from __future__ import annotations

# imlib.methods registers these hosts when it is imported, and every host imports from imlib.methods: loading
# that package first lets it import the host modules whole, whichever of the two is imported first
import imlib.methods  # noqa: F401,I001
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
