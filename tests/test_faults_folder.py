"""``imlib prepare folder`` on faulty folders (issue 11), driven as a user would, through the CLI: each fault is
exit code 2 and one line ``imlib: error: ...`` that names the file; dirty masks never silently decide the kind."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imlib.cli import main
from imlib.data.sources import DatasetError, read_array
from test_folder import _save, make_folder


def prepare_cli(src: Path, tmp_path: Path, capsys, *extra: str) -> tuple[int, str]:
    """Exit code and stderr of ``imlib prepare folder`` on ``src``."""
    capsys.readouterr()
    rc = main(["prepare", "folder", "--src", str(src), "--name", "x", "--size", "32",
               "--prepared-dir", str(tmp_path / "prep"), "--splits-dir", str(tmp_path / "splits"), *extra])
    return rc, capsys.readouterr().err


def one_error(rc: int, err: str) -> str:
    """The message of a one-line CLI error (exit code 2)."""
    assert rc == 2, err
    assert err.startswith("imlib: error: ") and err.count("\n") == 1, err
    return err


def manifest(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "prep" / "x" / "manifest.json").read_text())


# --- case 2: the task kind is never inferred from dirty masks --------------------------------------------

def test_a_stray_value_in_one_binary_mask_is_an_error(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    m = np.asarray(Image.open(src / "masks" / "img03.png")).copy()
    m[:10, :10] = 128
    _save(src / "masks" / "img03.png", m)
    err = one_error(*prepare_cli(src, tmp_path, capsys))
    assert "19 of 20 masks are binary" in err and "img03.png [128]" in err and "--kind" in err


def test_jpeg_masks_are_refused(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    for p in sorted((src / "masks").glob("*.png")):
        Image.open(p).save(p.with_suffix(".jpg"))
        p.unlink()
    err = one_error(*prepare_cli(src, tmp_path, capsys))
    assert "masks/img00.jpg" in err and "lossy" in err and "PNG" in err


def test_a_jpeg_saved_under_a_png_name_is_refused(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    p = src / "masks" / "img04.png"
    Image.open(p).save(p, format="JPEG")
    err = one_error(*prepare_cli(src, tmp_path, capsys, "--kind", "binary"))
    assert "masks/img04.png" in err and "JPEG" in err and "PNG" in err


def test_colour_masks_are_explained_not_converted_to_grey(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    for p in sorted((src / "masks").glob("*.png")):
        m = np.asarray(Image.open(p))
        rgb = np.zeros(m.shape + (3,), np.uint8)
        rgb[m == 255] = (255, 0, 0)
        _save(p, rgb)
    err = one_error(*prepare_cli(src, tmp_path, capsys))
    assert "masks/img00.png" in err and "colour mask" in err and "(255, 0, 0)" in err and "classes.txt" in err


def test_grey_rgb_masks_still_read_as_binary(tmp_path, capsys):
    """An RGB mask whose colours are all grey is a grey mask saved in RGB: read as before."""
    src = make_folder(tmp_path / "src")
    for p in sorted((src / "masks").glob("*.png")):
        _save(p, np.repeat(np.asarray(Image.open(p))[..., None], 3, axis=2))
    rc, err = prepare_cli(src, tmp_path, capsys)
    assert rc == 0, err
    assert manifest(tmp_path)["kind"] == "binary"


def test_grey_levels_of_resized_masks_are_not_class_ids(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    for p in sorted((src / "masks").glob("*.png")):  # bilinear resizing blurs every edge into grey levels
        im = Image.open(p)
        im.resize((24, 20), Image.BILINEAR).resize(im.size, Image.BILINEAR).save(p)
    err = one_error(*prepare_cli(src, tmp_path, capsys))
    assert "distinct mask values" in err and "class ids" in err and "--kind multiclass" in err


def test_255_outweighing_every_other_id_is_not_ignore(tmp_path, capsys):
    """Most 0/255 masks with stray values: 255 would become 'ignore', but it covers more pixels than every
    other non-zero value together; these are binary masks gone dirty."""
    src = make_folder(tmp_path / "src")
    for p in sorted((src / "masks").glob("*.png"))[:12]:
        m = np.asarray(Image.open(p)).copy()
        m[-2:, -2:] = 128
        _save(p, m)
    err = one_error(*prepare_cli(src, tmp_path, capsys))
    assert "255" in err and "ignore" in err and "--kind" in err


def test_genuine_small_class_ids_still_infer_multiclass(tmp_path, capsys):
    """Class ids 0..8, each mask holding a few of them (some only 0 and 1): still multi-class."""
    src = make_folder(tmp_path / "src")
    rng = np.random.default_rng(3)
    for i, p in enumerate(sorted((src / "masks").glob("*.png"))):
        m = np.zeros((40, 48), np.uint8)
        ids = [1] if i < 3 else rng.choice(np.arange(1, 9), 3, replace=False)
        for j, c in enumerate(ids):
            m[j * 10:j * 10 + 8, 5:30] = c
        _save(p, m)
    rc, err = prepare_cli(src, tmp_path, capsys)
    assert rc == 0, err
    assert manifest(tmp_path)["kind"] == "multiclass" and manifest(tmp_path)["class_ids"][0] == 0


def test_stray_values_with_the_kind_stated_keep_the_per_file_error(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    _save(src / "masks" / "img03.png", np.full((40, 48), 128, np.uint8))
    err = one_error(*prepare_cli(src, tmp_path, capsys, "--kind", "binary"))
    assert "img03.png: a binary mask must hold 0/255 (or 0/1)" in err


# --- case 10: hidden files, and a dataset without foreground -----------------------------------------------

def test_macos_resource_forks_and_ds_store_are_not_images(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    for sub in ("images", "masks"):
        (src / sub / "._img00.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
        (src / sub / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    rc, err = prepare_cli(src, tmp_path, capsys)
    assert rc == 0, err
    assert not any("._" in f or "DS_Store" in f for f in manifest(tmp_path)["files"])


def test_a_binary_dataset_without_foreground_is_an_error(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    for p in (src / "masks").glob("*.png"):
        _save(p, np.zeros((40, 48), np.uint8))
    err = one_error(*prepare_cli(src, tmp_path, capsys))
    assert f"{src / 'masks'}: every mask is all background" in err


# --- case 9: an image over PIL's decompression-bomb limit ---------------------------------------------------

@pytest.fixture
def small_pixel_limit(monkeypatch):
    """PIL refuses images over twice this limit (and warns above it): 40x48 = 1920 px passes, 100x100 fails."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)


def big_image_folder(tmp_path: Path) -> Path:
    src = make_folder(tmp_path / "src")
    _save(src / "images" / "img05.png", np.zeros((100, 100, 3), np.uint8))
    m = np.zeros((100, 100), np.uint8)
    m[10:20, 10:20] = 255
    _save(src / "masks" / "img05.png", m)
    return src


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_read_array_names_a_too_large_image(tmp_path, small_pixel_limit):
    src = big_image_folder(tmp_path)
    with pytest.raises(DatasetError, match=r"img05.png: 100x100 image \(10000 pixels\) is too large for PIL.*"
                                           r"MAX_IMAGE_PIXELS = 1000 .*downscale it"):
        read_array(src / "images" / "img05.png")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("extra, named", [((), "masks/img05.png"), (("--kind", "binary"), "images/img05.png")])
def test_a_too_large_image_is_one_line_naming_it(tmp_path, capsys, small_pixel_limit, extra, named):
    err = one_error(*prepare_cli(big_image_folder(tmp_path), tmp_path, capsys, *extra))
    assert f"{named}: 100x100 image (10000 pixels)" in err and "Image.MAX_IMAGE_PIXELS" in err


# --- regression guards: faults that were already one line naming the file ----------------------------------

def test_guard_unpaired_image(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    (src / "masks" / "img03.png").unlink()
    err = one_error(*prepare_cli(src, tmp_path, capsys))
    assert "images without a mask in" in err and "img03" in err


def test_guard_truncated_image(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    p = src / "images" / "img05.png"
    p.write_bytes(p.read_bytes()[:200])
    err = one_error(*prepare_cli(src, tmp_path, capsys))
    assert "images/img05.png: unreadable or truncated image" in err


def test_guard_mask_of_the_wrong_size(tmp_path, capsys):
    src = make_folder(tmp_path / "src")
    _save(src / "masks" / "img02.png", np.zeros((10, 10), np.uint8))
    err = one_error(*prepare_cli(src, tmp_path, capsys, "--kind", "binary"))
    assert "masks/img02.png: mask is 10x10, its image" in err


def test_guard_empty_images_folder(tmp_path, capsys):
    (tmp_path / "src" / "images").mkdir(parents=True)
    (tmp_path / "src" / "masks").mkdir()
    err = one_error(*prepare_cli(tmp_path / "src", tmp_path, capsys))
    assert f"{tmp_path / 'src' / 'images'}: no images" in err
