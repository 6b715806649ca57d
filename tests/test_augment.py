import torch

from imlib.data.augment import augment, augmented_copies, gaussian_blur
from imlib.data.task import AugmentConfig


def test_geometry_moves_image_and_label_together():
    g = torch.Generator().manual_seed(0)
    img = torch.zeros(64, 1, 16, 16, dtype=torch.uint8)
    img[:, :, 2:5, 3:9] = 200
    lab = (img > 0).to(torch.uint8)
    cfg = AugmentConfig(contrast=(1.0, 1.0), brightness=0, blur_kernels=(0,), noise=0)
    x, y = augment(img, lab, cfg, g)
    assert torch.equal((x > 0).to(torch.uint8), y)  # the label follows the image exactly
    assert len({tuple(y[i].nonzero()[0].tolist()) for i in range(64)}) > 4  # and the geometry varies


def test_no_free_rotation_means_horizontal_flips_only():
    g = torch.Generator().manual_seed(1)
    img = torch.arange(16, dtype=torch.uint8).view(1, 1, 4, 4).repeat(32, 1, 1, 1)
    cfg = AugmentConfig(free_rotation=False, contrast=(1.0, 1.0), brightness=0, blur_kernels=(0,), noise=0)
    x, _ = augment(img, img.clone(), cfg, g)
    for i in range(32):
        assert torch.equal(x[i], img[0]) or torch.equal(x[i], img[0].flip(-1))


def test_photometry_stays_uint8_and_copies_are_seeded():
    img = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    lab = torch.randint(0, 2, (4, 1, 16, 16), dtype=torch.uint8)
    a = augmented_copies(img, lab, AugmentConfig(), 9, seed=3)
    b = augmented_copies(img, lab, AugmentConfig(), 9, seed=3)
    assert a[0].shape == (40, 3, 16, 16) and a[0].dtype == torch.uint8
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(a[0][:4], img)  # the originals come first
    assert set(a[1].unique().tolist()) <= {0, 1}


def test_blur_preserves_constant_images():
    x = torch.full((1, 3, 9, 9), 100.0)
    assert torch.allclose(gaussian_blur(x, 5), x)
