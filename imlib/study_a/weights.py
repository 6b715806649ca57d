"""ImageNet backbones for Study A, only from an explicit local file (a run never downloads anything).

Layouts:

- ``torchvision``: torchvision's ``resnet50-*.pth`` (``conv1.weight``, ``bn1.*``, ``layer1.0...``), for the
  ``resnet50`` encoder (smp's ResNet is torchvision's).
- ``host-deepstem``: the ``resnet50.pth`` that the UniMatch and iMAS READMEs link on Google Drive (download
  it by hand), for ``resnet50-deepstem``. The hosts' ``resnet.py`` (UniMatch, U2PL, iMAS) stores the deep stem
  as ``conv1 = Sequential(conv, BN, ReLU, conv, BN, ReLU, conv)`` + ``bn1`` (128), so the file's keys are
  ``conv1.0.weight, conv1.1.*, conv1.3.weight, conv1.4.*, conv1.6.weight, bn1.*`` - the encoder's own keys.
- ``deepstem-flat``: the same network with a flat stem (``conv1, bn1, conv2, bn2, conv3, bn3``, as in older
  DeepLab/CCNet ImageNet files); mapped onto the Sequential stem (flat ``bn1`` is the first 64-ch BN, flat
  ``bn3`` the 128-ch one).

Loading is strict, because the hosts load with ``strict=False`` and a mismatched file silently leaves layers
random: every encoder parameter and buffer must come from the file with its shape (only the BN counters
``num_batches_tracked``, absent from files saved by old PyTorch, may be missing); ``fc.*`` is skipped;
anything else missing, unexpected or mis-shaped is a ValueError that names the file.
"""
from __future__ import annotations

from pathlib import Path

import torch

from imlib.study_a.models import StudyANet

LAYOUTS = ("torchvision", "host-deepstem", "deepstem-flat")
SKIPPED_PREFIXES = ("fc.",)
_FLAT_STEM = {"conv1.": "conv1.0.", "bn1.": "conv1.1.", "conv2.": "conv1.3.", "bn2.": "conv1.4.",
              "conv3.": "conv1.6.", "bn3.": "bn1."}


def _unwrap(state: dict) -> dict:
    """A bare state dict from {"state_dict": ...} / {"model": ...} wrappers and DataParallel's "module." prefix."""
    for key in ("state_dict", "model"):
        if isinstance(state.get(key), dict):
            state = state[key]
    return {k.removeprefix("module."): v for k, v in state.items()}


def detect_layout(state: dict) -> str:
    if "conv1.0.weight" in state:
        return "host-deepstem"
    if "conv3.weight" in state or "conv2.weight" in state:
        return "deepstem-flat"
    return "torchvision"


def _from_flat(state: dict) -> dict:
    out = {}
    for k, v in state.items():
        prefix = next((p for p in _FLAT_STEM if k.startswith(p)), None)
        out[_FLAT_STEM[prefix] + k[len(prefix):] if prefix else k] = v
    return out


def key_listing(keys: list[str]) -> str:
    return f"{keys[:10]}{f' ... ({len(keys)} in all)' if len(keys) > 10 else ''}"


def read_state_dict(path: str | Path, expected: str) -> dict:
    """A weight file's tensors, or an error naming the file and what was ``expected`` in it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such {expected}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle torch refuses, a truncated file, ...
        raise ValueError(f"{path}: not a readable PyTorch state dict ({e})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def fit_problems(own: dict, state: dict, may_miss: frozenset | set = frozenset()) -> list[str]:
    """What keeps ``state`` from loading strictly into a module whose state dict is ``own``: missing keys
    (other than ``may_miss``), unexpected keys, wrong shapes; empty when it fits."""
    missing = sorted(set(own) - set(state) - set(may_miss))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    return [f"{what}: {key_listing(keys)}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)) if keys]


def load_backbone(net: StudyANet, path: str | Path, layout: str = "auto") -> dict:
    """Load the file's ImageNet backbone into ``net``'s encoder (a DINOv2 net: Meta's file, by
    :func:`imlib.study_a.dpt.load_dinov2_weights`).

    Returns {"file", "layout", "loaded" (tensors copied), "skipped" (fc keys), "defaulted" (missing BN
    counters left as they were)}."""
    from imlib.study_a.dpt import DinoDPT, load_dinov2_weights

    if isinstance(net, DinoDPT):
        return {**load_dinov2_weights(net, path), "layout": "meta-dinov2"}
    path = Path(path)
    if layout != "auto" and layout not in LAYOUTS:
        raise ValueError(f"layout must be 'auto' or one of {LAYOUTS}, got {layout!r}")
    state = _unwrap(read_state_dict(path, "backbone file (expected a local ImageNet ResNet checkpoint)"))
    found = detect_layout(state) if layout == "auto" else layout
    skipped = sorted(k for k in state if k.startswith(SKIPPED_PREFIXES))
    state = {k: v for k, v in state.items() if not k.startswith(SKIPPED_PREFIXES)}
    if found == "deepstem-flat":
        state = _from_flat(state)
    encoder = net.model.encoder
    own = encoder.state_dict()
    defaulted = sorted(k for k in set(own) - set(state) if k.endswith("num_batches_tracked"))
    problems = fit_problems(own, state, may_miss=set(defaulted))
    if problems:
        raise ValueError(
            f"{path}: does not fit the {net.encoder_name} encoder as layout {found!r} ({'; '.join(problems)}); "
            "the resnet50 encoder takes torchvision's file, resnet50-deepstem the hosts' resnet50.pth")
    encoder.load_state_dict({**{k: own[k] for k in defaulted}, **state}, strict=True)
    return {"file": str(path), "layout": found, "loaded": len(state), "skipped": skipped, "defaulted": defaulted}
