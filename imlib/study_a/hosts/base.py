"""The Host interface the Study A engine trains, and the pieces every host shares.

A host turns one step's batches into a loss, the way its official Cityscapes code does; the engine owns the
optimiser, the LR schedule, DDP and evaluation. Variants of the IM plug-in (:mod:`imlib.study_a.plugin`) that
touch the host: ``M`` leaves the offline inconsistency mask (``UnlabeledBatch.im_mask``) out of every unsupervised
term, ``O`` the pixels where two predictors of the host disagree (``online_im``); ``G`` changes only the
data, so a host sees it as ``"none"``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from imlib.methods.options import Option, resolve_options
from imlib.semi.objective import eval_mode
from imlib.semi.teacher import ema_update, make_teacher
from imlib.semi.views import cutmix_boxes
from imlib.study_a.batches import LabeledBatch, UnlabeledBatch, normalize
from imlib.study_a.losses import ohem_cross_entropy
from imlib.study_a.models import build_segmenter
from imlib.study_a.recipe import HostRecipe

VARIANTS = ("none", "G", "M", "O")


class Host:
    """One host's training step. ``model`` is what every student forward goes through (the engine may
    replace it by a DistributedDataParallel wrapper); ``net`` stays the plain student (EMA, evaluation)."""

    key: ClassVar[str]
    name: ClassVar[str]
    RECIPE: ClassVar[HostRecipe]
    OPTIONS: ClassVar[dict[str, Option]] = {}
    uses_unlabeled: ClassVar[bool] = True
    partner_batch: ClassVar[bool] = False  # a second unlabeled batch as the CutMix partner (UniMatch)
    model_kwargs: ClassVar[dict[str, Any]] = {}  # extra build_segmenter arguments (aux head, rep head)
    online_im: ClassVar[str | None] = None  # what variant O compares; None: not supported
    reported_networks: ClassVar[tuple[str, ...] | None] = None  # of eval_models(), the ones a result may
    # come from (None: all; SegKC reports its DINOv2-S network only, the senior is evaluated and recorded)

    @classmethod
    def build_net(cls, encoder: str, num_classes: int) -> nn.Module:
        """The student network this host trains (and an IM teacher is rebuilt as)."""
        r = cls.RECIPE
        return build_segmenter(encoder, num_classes=num_classes, output_stride=r.output_stride,
                               atrous_rates=r.atrous_rates or (6, 12, 18), **cls.model_kwargs)

    @classmethod
    def teacher_network(cls) -> str:
        """Which of ``eval_models()`` labels the unlabeled images when this host's runs are IM teachers:
        the EMA teacher where the host has one (its evaluated mean teacher), else the student."""
        return "teacher" if cls.RECIPE.ema is not None else "student"

    @classmethod
    def reported(cls, scores: dict[str, float]) -> dict[str, float]:
        """The scores a run's result may be taken from."""
        keep = cls.reported_networks
        return {k: v for k, v in scores.items() if keep is None or k in keep}

    def __init__(self, net: nn.Module, num_classes: int, options: dict[str, Any] | None, device: torch.device,
                 gen: torch.Generator, ohem_min_kept: int, total_steps: int, variant: str = "none"):
        if variant not in VARIANTS:
            raise ValueError(f"{self.name}: variant must be one of {VARIANTS}, got {variant!r}")
        if variant in ("M", "O") and not self.uses_unlabeled:
            raise ValueError(f"{self.name}: variant {variant} changes the unsupervised losses; this host has none")
        if variant == "O" and self.online_im is None:
            raise ValueError(f"{self.name}: variant O needs two predictors per step; this host has none")
        self.net = self.model = net
        self.num_classes, self.device, self.gen = num_classes, torch.device(device), gen
        self.options = resolve_options(f"host {self.key!r}", self.OPTIONS, options)
        self.ohem_min_kept, self.total_steps, self.variant = ohem_min_kept, max(total_steps, 1), variant

    # --- what the engine calls -----------------------------------------------------------------

    def loss(self, labeled: LabeledBatch, unlabeled: UnlabeledBatch | None, partner: UnlabeledBatch | None,
             step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def after_step(self, step: int) -> None:
        """Nothing for hosts without a teacher."""

    def extra_param_groups(self, lr: float, head_lr_multiplier: float, weight_decay: float) -> list[dict]:
        """Optimiser groups of trained modules besides the student (SegKC's second network and projectors)."""
        return []

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Under DDP: wrap trained modules besides the student (the engine wraps the student)."""

    def eval_models(self) -> dict[str, nn.Module]:
        return {"student": self.net}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing beyond the student and the optimiser to restore."""

    # --- shared pieces -------------------------------------------------------------------------

    def forward(self, images: torch.Tensor, **kwargs):
        """A student forward of uint8 images (through ``model``, so DDP sees it)."""
        return self.model(normalize(images), **kwargs)

    @torch.no_grad()
    def predict_eval(self, model: nn.Module, images: torch.Tensor, **kwargs) -> torch.Tensor:
        """Float logits of an eval-mode, no-grad forward; the model's mode is restored afterwards."""
        with eval_mode(model):
            return model(normalize(images), **kwargs).float()

    def ohem(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return ohem_cross_entropy(logits, label, min_kept=self.ohem_min_kept)

    def supervised(self, logits: torch.Tensor, label: torch.Tensor, aux: torch.Tensor | None = None,
                   aux_weight: float = 0.0) -> torch.Tensor:
        """OHEM on the main head, plus ``aux_weight`` x OHEM on the auxiliary head (U2PL/iMAS ``Criterion``
        with ``aux_loss``)."""
        loss = self.ohem(logits, label)
        return loss if aux is None else loss + aux_weight * self.ohem(aux, label)

    def excluded(self, batch: UnlabeledBatch, online: torch.Tensor | None = None) -> torch.Tensor:
        """The pixels no unsupervised term may use: padding always, the offline IM under variant M, the
        ``online`` disagreement mask under variant O."""
        out = batch.ignore
        if self.variant == "M":
            out = out | batch.im_mask
        if self.variant == "O":
            if online is None:
                raise RuntimeError(f"{self.name}: variant O without an online mask")
            out = out | online
        return out

    def cutmix_boxes(self, batch: UnlabeledBatch) -> torch.Tensor:
        """One CutMix box per image of ``batch`` from the host's ``cutmix_p`` and ``cutmix_area`` options
        (UniMatch, UniMatch V2, SegKC)."""
        b, h, w = batch.ignore.shape
        return cutmix_boxes(b, h, w, self.gen, batch.image.device, p=self.options["cutmix_p"],
                            area=tuple(self.options["cutmix_area"]))

    def progress(self, step: int) -> float:
        return min(max(step / self.total_steps, 0.0), 1.0)


def paste_reversed(box: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """CutMix with the reversed batch (UniMatch V2): inside image i's box, image B-1-i's value."""
    return torch.where(box, t.flip(0), t)


class TeacherHost(Host):
    """A host with an EMA teacher (U2PL, iMAS, UniMatch V2): momentum and whether BN statistics are averaged come from
    the recipe (U2PL averages the parameters only; its teacher's BN statistics update in its own forward).
    The decay d = min(1 - 1 / (t + 1), m) applies from step 0; officially the teacher is a plain copy of the
    student during the first epoch (U2PL and iMAS with ``sup_only_epoch: 0``) and the same formula applies
    after it. The host does not know the epoch length, and the first epoch's state decays away within a few
    hundred steps either way."""

    def __init__(self, net: nn.Module, *args, **kwargs):
        super().__init__(net, *args, **kwargs)
        self.teacher = make_teacher(net)

    def after_step(self, step: int) -> None:
        ema_update(self.teacher, self.net, step, self.RECIPE.ema, buffers=self.RECIPE.ema_buffers)

    def eval_models(self) -> dict[str, nn.Module]:
        return {"student": self.net, "teacher": self.teacher}

    def state_dict(self) -> dict[str, Any]:
        return {"teacher": self.teacher.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.teacher.load_state_dict(state["teacher"])
