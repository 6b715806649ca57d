"""ImageNet backbones for Study A, only from an explicit local file (nothing is downloaded by a run).

Two layouts load: ``torchvision`` (``resnet50-*.pth`` from torchvision, for the ``resnet50`` encoder) and
``host-deepstem`` (the ``resnet50.pth`` the UniMatch and iMAS READMEs link on Google Drive, for the
``resnet50-deepstem`` encoder). Loading is strict: every encoder parameter and buffer must come from the file
with its shape; the classifier (``fc.*``) is skipped; anything missing, unexpected or mis-shaped is an error that
names the file.
"""
from __future__ import annotations

from pathlib import Path

import torch

from imlib.study_a.models import StudyANet

LAYOUTS = ("torchvision", "host-deepstem")
SKIPPED_PREFIXES = ("fc.",)


def _unwrap(state: dict) -> dict:
    for key in ("state_dict", "model"):
        if isinstance(state.get(key), dict):
            state = state[key]
    return {k.removeprefix("module."): v for k, v in state.items()}


def detect_layout(state: dict) -> str:
    return "host-deepstem" if "conv3.weight" in state else "torchvision"


def load_backbone(net: StudyANet, path: str | Path, layout: str = "auto") -> dict:
    """Load the file's backbone into ``net``'s encoder; returns what was loaded (count, skipped keys, layout)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such backbone file (expected a local ImageNet ResNet checkpoint)")
    try:
        state = _unwrap(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:  # a pickle torch refuses, a truncated file, ...
        raise ValueError(f"{path}: not a readable PyTorch state dict ({e})") from None
    found = detect_layout(state) if layout == "auto" else layout
    if found not in LAYOUTS:
        raise ValueError(f"layout must be 'auto' or one of {LAYOUTS}, got {layout!r}")
    skipped = sorted(k for k in state if k.startswith(SKIPPED_PREFIXES))
    state = {k: v for k, v in state.items() if k not in skipped}
    encoder = net.model.encoder
    own = encoder.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = [f"{what}: {keys[:10]}{' ...' if len(keys) > 10 else ''}"
                for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)) if keys]
    if problems:
        raise ValueError(f"{path}: does not fit the {found} encoder ({'; '.join(problems)}); the resnet50 encoder "
                         "takes torchvision's file, resnet50-deepstem the hosts' resnet50.pth")
    encoder.load_state_dict(state, strict=True)
    return {"file": str(path), "layout": found, "loaded": len(state), "skipped": skipped}
