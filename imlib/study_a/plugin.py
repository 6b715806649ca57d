"""The IM plug-in: inconsistency masks from n finished host runs, for any host.

The teachers label every unlabeled image at full resolution with the same sliding-window inference as the
evaluation; where their argmax maps differ is the inconsistency mask, written as 255 (ignore) into the
pseudo-label PNG (:func:`imlib.im.multiclass_im_ignore`: Cityscapes' train ids use every id from 0, so no
class can be reserved). Variant G then trains a fresh host run on GT ∪ IM pairs (the input blacked out on the
mask after the geometric augmentation, :class:`imlib.study_a.data.TrainPairs`); variant M keeps the labeled set
and removes the mask from the host's unsupervised losses; variant O needs no teachers (the host compares
two of its own predictors online). The paper does not say which it used: G is this companion's reading.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from imlib.im import multiclass_im_ignore
from imlib.study_a import distributed as ddp
from imlib.study_a.data import read_image, write_label
from imlib.study_a.evaluation import predict_classes
from imlib.study_a.hosts import get_host


@dataclass
class IMLabels:
    """The plug-in's pseudo-labels on disk and how much of them the mask took."""

    paths: dict[Path, Path]  #: unlabeled image -> its IM pseudo-label PNG
    im_fraction: float  #: mean share of IM pixels per image
    im_fraction_range: tuple[float, float]  #: smallest and largest share of IM pixels in an image
    class_agreement: list[float | None]  #: per class c, share of teacher 1's c-pixels all teachers agree on


def teacher_network(host_key: str) -> str:
    """Which network of a teacher run labels (the host's ``teacher_network()``)."""
    return get_host(host_key).teacher_network()


def load_teacher(host_key: str, encoder: str, weights_file: Path, num_classes: int, device) -> torch.nn.Module:
    """A finished run's network from its weight file (``last-<network>.pt`` or ``best.pt``)."""
    if not weights_file.exists():
        raise FileNotFoundError(f"{weights_file}: the teacher's weights are missing (its run folder was removed?); "
                                "delete its record to train it again")
    net = get_host(host_key).build_net(encoder, num_classes)
    state = torch.load(weights_file, map_location="cpu", weights_only=True)
    net.load_state_dict(state["state"])
    return net.to(device).eval()


def label_name(image: Path) -> str:
    return image.name.rsplit(".", 1)[0] + "_im.png"


def make_im_labels(teachers: list[torch.nn.Module], images: list[Path], out_dir: Path, num_classes: int,
                   window: int, stride: int, multiple: int, world: ddp.World, amp: bool = True) -> IMLabels:
    """IM pseudo-labels for ``images`` into ``out_dir`` (one PNG each, written atomically), with the share of IM
    pixels per image and the teachers' agreement per class. The images are sharded over the processes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {img: out_dir / label_name(img) for img in images}
    fractions = torch.zeros(len(images), dtype=torch.float64)
    first = torch.zeros(num_classes, dtype=torch.float64)  # pixels of class c in teacher 1's map
    agreed = torch.zeros(num_classes, dtype=torch.float64)  # ... on which every teacher agrees
    for i in ddp.shard(list(range(len(images))), world):
        img = images[i]
        image = torch.tensor(read_image(img)).permute(2, 0, 1).contiguous()
        maps = torch.stack([predict_classes(t, image, window, stride, num_classes, world.device, amp=amp,
                                            multiple=multiple).cpu() for t in teachers])
        res = multiclass_im_ignore(maps[:, None], num_classes=num_classes)
        write_label(paths[img], res.label[0, 0].numpy().astype(np.uint8))
        fractions[i] = res.mask.double().mean()
        first += torch.bincount(maps[0].flatten(), minlength=num_classes)[:num_classes].double()
        agreed += torch.bincount(maps[0][~res.mask[0]].flatten(), minlength=num_classes)[:num_classes].double()
    if world.distributed:
        for t in (fractions, first, agreed):
            on_device = t.to(world.device)  # NCCL reduces device tensors only
            dist.all_reduce(on_device)
            t.copy_(on_device.cpu())
    ddp.barrier(world)
    share = [float(a / f) if f > 0 else None for a, f in zip(agreed, first)]
    return IMLabels(paths, float(fractions.mean()) if len(images) else 0.0,
                    (float(fractions.min()), float(fractions.max())) if len(images) else (0.0, 0.0), share)
