"""Cell positions: blob centroids and the paper's disc redraw (HeLa position channel).

Used twice: IM (and Model Ensemble) redraw the pseudo-label's position channel as discs, and the HeLa
metrics redraw the predicted position channel (``mod_pos_size``) and count cells from it (MCCE).

Cell positions are found as the original's ``get_pos_contours`` finds them (functions.py, called by
``create_pseudo_labels_im_hela``, the ensemble redraws, ``mod_pos_size`` and ``benchmark_hela``): the mask
is first eroded with a 3 x 3 all-ones kernel (OpenCV's default border: the outside counts as inside), so
that specks of one or two pixels vanish instead of becoming cells, then the centroid of every blob is
taken. Centroids come from 8-connected components (``scipy.ndimage``) rather than the original's
``cv2.findContours(RETR_TREE)`` moments: for filled blobs the two agree up to rounding, but the contour
version also returns a contour for every hole (counting a ring twice) and adds +1 px to each centroid;
connected components do neither.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
ERODE_KERNEL = 3  # the original's get_pos_contours(img, erode_kernel=3)


def blob_centroids(mask: np.ndarray) -> np.ndarray:
    """Centroids (K, 2) as integer (row, col) of the 8-connected blobs of a 2-D boolean mask."""
    if mask.ndim != 2:
        raise ValueError(f"blob_centroids expects a 2-D mask, got shape {mask.shape}")
    labels, n = ndimage.label(mask, structure=EIGHT_CONNECTED)
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    centres = ndimage.center_of_mass(mask, labels, index=np.arange(1, n + 1))
    return np.rint(np.asarray(centres)).astype(np.int64).reshape(-1, 2)


def instance_centroids(ids: np.ndarray) -> np.ndarray:
    """Centroids (K, 2) as float (row, col) of every instance of a 2-D instance map (0 = background, each
    other value one cell, any bit depth), in increasing id order."""
    if ids.ndim != 2:
        raise ValueError(f"instance_centroids expects a 2-D map, got shape {ids.shape}")
    labels = np.unique(ids[ids > 0])
    if not len(labels):
        return np.zeros((0, 2))
    return np.asarray(ndimage.center_of_mass(np.ones_like(ids, dtype=np.uint8), ids, index=labels)).reshape(-1, 2)


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


def erode(mask: np.ndarray, k: int = ERODE_KERNEL) -> np.ndarray:
    """Erosion with a k x k all-ones kernel, the outside of the image counting as inside (as cv2.erode)."""
    if k <= 1:
        return mask.astype(bool)
    return ndimage.binary_erosion(mask.astype(bool), structure=np.ones((k, k), bool), border_value=1)


def position_centroids(mask: np.ndarray, erode_kernel: int = ERODE_KERNEL) -> np.ndarray:
    """Cell positions (K, 2) (row, col) of a 2-D position mask as the original's ``get_pos_contours``:
    3 x 3 erosion first (a speck of 1-2 pixels is gone), then the blob centroids."""
    if mask.ndim != 2:
        raise ValueError(f"position_centroids expects a 2-D mask, got shape {mask.shape}")
    return blob_centroids(erode(mask, erode_kernel))


def blobs_lost_to_erosion(mask: np.ndarray, erode_kernel: int = ERODE_KERNEL) -> tuple[int, int]:
    """(lost, total): how many 8-connected blobs of a 2-D position mask vanish under the erosion before the
    centroids (discs of radius 1-2 px do), i.e. how many cells the cell count cannot see at this size."""
    labels, n = ndimage.label(mask.astype(bool), structure=EIGHT_CONNECTED)
    kept = np.unique(labels[erode(mask, erode_kernel) & (labels > 0)])
    return n - len(kept), n


def redraw_position(mask: np.ndarray) -> np.ndarray:
    """Replace every cell of a 2-D position mask by a disc of the paper's radius at its centroid (the
    original's redraw in ``create_pseudo_labels_im_hela`` and the ensembles: eroded centroids, then discs)."""
    c = position_centroids(mask)
    return draw_discs(c, disc_radii(c), mask.shape)


def _shrink_2x2(mask: np.ndarray) -> np.ndarray:
    """The original's ``cv2.blur(img, (2, 2))`` then ``img[img < 254] = 0`` on a 0/255 image: a pixel stays
    only where the 2 x 2 window ending at it (rows y-1..y, columns x-1..x; OpenCV's anchor for an even
    kernel, reflect-101 border) is all on."""
    p = np.pad(mask.astype(bool), ((1, 0), (1, 0)), mode="reflect")  # numpy's reflect = OpenCV's REFLECT_101
    return p[1:, 1:] & p[:-1, 1:] & p[1:, :-1] & p[:-1, :-1]


def mod_pos_size(mask: np.ndarray) -> np.ndarray:
    """The original's ``mod_pos_size`` (functions.py), applied to a *predicted* position channel before the
    HeLa metrics (``benchmark_hela``): eroded centroids -> discs of radius clamp(floor(d_min / 4), 3, 8)
    -> 2 x 2 box blur, pixels < 254 set to 0.

    Difference: a lone cell keeps its disc (radius 8, d_min = 99 as in every other redraw of the
    original); the original's ``mod_pos_size`` draws nothing for it (its ``get_min_dist`` raises for a
    single position and the exception is printed and skipped), which drops a crop's only cell."""
    return _shrink_2x2(redraw_position(mask))
