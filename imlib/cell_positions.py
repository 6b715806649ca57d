"""Cell positions: blob centroids and the paper's disc redraw (HeLa position channel).

Used twice: IM redraws the pseudo-label's position channel as discs, and MCCE counts cells from the
position channel. Centroids come from 8-connected components (``scipy.ndimage``) rather than the
original's ``cv2.findContours(RETR_TREE)`` moments: for filled blobs the two agree up to rounding, but
the contour version also returns a contour for every hole (counting a ring twice) and adds +1 px to
each centroid; connected components do neither.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def blob_centroids(mask: np.ndarray) -> np.ndarray:
    """Centroids (K, 2) as integer (row, col) of the 8-connected blobs of a 2-D boolean mask."""
    if mask.ndim != 2:
        raise ValueError(f"blob_centroids expects a 2-D mask, got shape {mask.shape}")
    labels, n = ndimage.label(mask, structure=EIGHT_CONNECTED)
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    centres = ndimage.center_of_mass(mask, labels, index=np.arange(1, n + 1))
    return np.rint(np.asarray(centres)).astype(np.int64).reshape(-1, 2)


def disc_radii(centroids: np.ndarray, lo: int = 3, hi: int = 8, lone: float = 99.0) -> np.ndarray:
    """The paper's radius rule: clamp(floor(d_min / 4), lo, hi), d_min = distance to the nearest other
    centroid (``lone`` = 99 when a centroid is alone, giving the maximum radius)."""
    k = len(centroids)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    if k == 1:
        d_min = np.array([lone])
    else:
        diff = centroids[:, None, :].astype(np.float64) - centroids[None, :, :]
        dist = np.sqrt((diff**2).sum(-1))
        np.fill_diagonal(dist, np.inf)
        d_min = dist.min(1)
    return np.clip(np.floor(d_min / 4), lo, hi).astype(np.int64)


def draw_discs(centroids: np.ndarray, radii: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A boolean image with a filled disc (distance <= r) at each centroid."""
    out = np.zeros(shape, dtype=bool)
    h, w = shape
    for (cy, cx), r in zip(centroids, radii):
        y0, y1, x0, x1 = max(cy - r, 0), min(cy + r + 1, h), max(cx - r, 0), min(cx + r + 1, w)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        out[y0:y1, x0:x1] |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return out


def redraw_position(mask: np.ndarray) -> np.ndarray:
    """Replace every blob of a 2-D position mask by a disc of the paper's radius at its centroid."""
    c = blob_centroids(mask)
    return draw_discs(c, disc_radii(c), mask.shape)
