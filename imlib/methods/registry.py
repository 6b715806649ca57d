"""Every method, once: the registry that tables, figures, batch grids, the CLI, the notebooks and the
book's hyperparameter table read.

Adding a method = one module with its run function (and its options) + one ``register`` call
below. Nothing else lists methods. The order of registration is the order of the paper's Study B table.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from imlib.methods.options import Option, resolve_options

if TYPE_CHECKING:
    from imlib.methods.shared import Run
    from imlib.records import GenerationRecord

Kind = Literal["reference", "semi-supervised", "generational", "study-a-host", "plug-in"]
# kind -> the group heading a table prints it under (the paper's grouping of its rows)
GROUPS = {"reference": "supervised references", "semi-supervised": "semi-supervised baselines",
          "generational": "generational self-training (ME, IM)", "study-a-host": "Study A hosts",
          "plug-in": "IM as a plug-in"}
KINDS = tuple(GROUPS)


@dataclass(frozen=True)
class MethodSpec:
    """What the rest of the project needs to know about a method."""

    key: str  # the name in configs, records, the CLI: "im"
    name: str  # how tables and figures print it: "IM"
    kind: Kind
    run: Callable[[Run], list[GenerationRecord]]  # trains the run's models, returns its generations
    colour: str  # in every figure
    study: str = "b"
    paper_row: str | None = None  # its row label in the paper's reported table (None: not in the paper)
    options: dict[str, Option] = field(default_factory=dict)  # its own hyperparameters, with reasons
    objective: type | None = None  # semi-supervised baselines: the training objective class; Study A hosts: the Host
    summary: str = ""  # one line for the book

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"method {self.key!r}: kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def group(self) -> str:
        return GROUPS[self.kind]

    @property
    def reuses_references(self) -> bool:
        """Starts from the run's LDT models (so a batch runs it after the references of its seed)."""
        return self.kind == "generational"

    def resolve_options(self, given: dict[str, Any] | None) -> dict[str, Any]:
        return resolve_options(f"method {self.key!r}", self.options, given)


# (study, key) -> spec: the studies share names (UniMatch is a Study B baseline and a Study A host)
_REGISTRY: dict[tuple[str, str], MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    if (spec.study, spec.key) in _REGISTRY:
        raise ValueError(f"method {spec.key!r} of Study {spec.study.upper()} is registered twice")
    _REGISTRY[(spec.study, spec.key)] = spec
    return spec


@contextmanager
def registered(spec: MethodSpec) -> Iterator[MethodSpec]:
    """``spec`` registered inside the block only (for tests and experiments)."""
    register(spec)
    try:
        yield spec
    finally:
        _REGISTRY.pop((spec.study, spec.key), None)


def _complete(study: str | None = None) -> None:
    """Run the pending registrations of ``study`` (all when None)."""
    for s in [study] if study is not None else list(_PENDING):
        register_study = _PENDING.pop(s, None)
        if register_study is not None:
            register_study()


def get_method(key: str, study: str = "b") -> MethodSpec:
    _complete(study)
    if (study, key) not in _REGISTRY:
        raise ValueError(f"unknown method {key!r} of Study {study.upper()}; available: {', '.join(method_keys(study))}")
    return _REGISTRY[(study, key)]


def methods(study: str | None = None, kind: str | None = None) -> list[MethodSpec]:
    """The registered methods in the paper's order, optionally of one study and kind."""
    _complete(study)
    return [m for m in _REGISTRY.values() if (study is None or m.study == study) and (kind is None or m.kind == kind)]


def method_keys(study: str | None = None, kind: str | None = None) -> list[str]:
    return [m.key for m in methods(study, kind)]


def colour(key: str, study: str = "b") -> str:
    _complete(study)
    return _REGISTRY[(study, key)].colour if (study, key) in _REGISTRY else "#999999"


def display_name(key: str, study: str = "b") -> str:
    _complete(study)
    return _REGISTRY[(study, key)].name if (study, key) in _REGISTRY else key


def first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _register_study_b() -> None:
    from imlib.methods import im_generations, model_ensemble, reference
    from imlib.methods.crossmatch import CrossMatch
    from imlib.methods.fixmatch import FixMatch
    from imlib.methods.fpl import FPL
    from imlib.methods.imas import IMAS
    from imlib.methods.semi_supervised import runner
    from imlib.methods.u2pl import U2PL
    from imlib.methods.unimatch import UniMatch

    for key, row, colour_, summary in (
            ("ldt", "Labeled Only (LDT)", "#666666", "the labeled 10 % only"),
            ("aldt", "Aug. Labeled (ALDT)", "#1b9e77", "the labeled set + 9 augmented copies per image"),
            ("fdt", "Full Dataset (FDT)", "#000000", "every training image with its true label (an upper bound)"),
            ("afdt", "Aug. Full Dataset (AFDT)", "#e7298a", "the full set + 9 augmented copies (not defined by "
                                                            "the paper; by analogy with ALDT)")):
        register(MethodSpec(key, key.upper(), "reference", reference.run, colour_, paper_row=row, summary=summary))
    for key, name, cls, colour_ in (("fixmatch", "FixMatch", FixMatch, "#a6cee3"), ("fpl", "FPL", FPL, "#1f78b4"),
                                    ("crossmatch", "CrossMatch", CrossMatch, "#b2df8a"),
                                    ("imas", "iMAS", IMAS, "#33a02c"), ("u2pl", "U2PL", U2PL, "#fb9a99"),
                                    ("unimatch", "UniMatch", UniMatch, "#e31a1c")):
        register(MethodSpec(key, name, "semi-supervised", runner(cls), colour_, paper_row=name, options=cls.OPTIONS,
                            objective=cls, summary=first_line(sys.modules[cls.__module__].__doc__)))
    register(MethodSpec("me", "ME", "generational", model_ensemble.run, "#7570b3", paper_row="Model Ensemble (ME)",
                        summary="generations of students on the teachers' ensemble pseudo-labels, no mask"))
    register(MethodSpec("im", "IM", "generational", im_generations.run, "#d95f02", paper_row="IM",
                        options=im_generations.OPTIONS,
                        summary="generations of students on pairs with the inconsistency mask removed"))


def _register_study_a() -> None:
    """The Study A hosts (one Host class each, :mod:`imlib.study_a.hosts`) and the IM plug-in over them."""
    from imlib.study_a.config import PLUGIN_OPTIONS
    from imlib.study_a.hosts.imas import IMAS
    from imlib.study_a.hosts.segkc import SegKC
    from imlib.study_a.hosts.supervised import Supervised
    from imlib.study_a.hosts.u2pl import U2PL
    from imlib.study_a.hosts.unimatch import UniMatch
    from imlib.study_a.hosts.unimatch_v2 import UniMatchV2

    def run(cfg):
        from imlib.study_a.run import run as run_study_a

        return run_study_a(cfg)

    for cls, row, colour_ in ((Supervised, "Supervised Only", "#666666"), (U2PL, "U2PL", "#fb9a99"),
                              (UniMatch, "UniMatch", "#e31a1c"), (IMAS, "iMAS", "#33a02c"),
                              (UniMatchV2, "UniMatch v2", "#1f78b4"), (SegKC, "SegKC", "#6a3d9a")):
        register(MethodSpec(cls.key, cls.name, "study-a-host", run, colour_, study="a", paper_row=row,
                            options=cls.OPTIONS, objective=cls, summary=first_line(sys.modules[cls.__module__].__doc__)))
    register(MethodSpec("im", "+IM", "plug-in", run, "#d95f02", study="a", paper_row="+IM", options=PLUGIN_OPTIONS,
                        summary="inconsistency masks from n host runs, over any host (variants G, M, O)"))


_register_study_b()
# Study A registers on first use: its modules import the registry's neighbours (options), and importing the
# registry should not pull in the Study A engine
_PENDING = {"a": _register_study_a}
