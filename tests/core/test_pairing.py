import pytest

from balance_core.errors import PairingError
from balance_core.pairing import folder_rasters, name_key, pair_by_name, pair_by_order, pair_folders


def test_name_key_drops_folder_extension_case_and_role_words():
    assert name_key("/a/Tile_07_RGB.tif") == name_key("/b/tile-07-mask.TIF") == "tile_07"


def test_pairs_by_name_whatever_the_order():
    images = ["/i/b_image.tif", "/i/a_image.tif"]
    masks = ["/m/a_label.tif", "/m/b_label.tif"]
    assert pair_by_name(images, masks) == [("/i/b_image.tif", "/m/b_label.tif"), ("/i/a_image.tif", "/m/a_label.tif")]


def test_one_image_and_one_mask_always_pair():
    assert pair_by_name(["/x/scene.tif"], ["/y/labels_v2.tif"]) == [("/x/scene.tif", "/y/labels_v2.tif")]


def test_unpaired_names_are_listed():
    with pytest.raises(PairingError, match=r"no mask for image\(s\) c\.tif.*no image for mask\(s\) d\.tif"):
        pair_by_name(["/i/a.tif", "/i/c.tif"], ["/m/a.tif", "/m/d.tif"])


def test_two_names_that_collapse_to_one_key_are_refused():
    with pytest.raises(PairingError, match="same name"):
        pair_by_name(["/i/t1_rgb.tif", "/i/t1_image.tif"], ["/m/t1.tif", "/m/t2.tif"])


def test_pair_by_order_needs_equal_counts():
    assert pair_by_order(["a", "b"], ["x", "y"]) == [("a", "x"), ("b", "y")]
    with pytest.raises(PairingError, match="2 image.*1 mask"):
        pair_by_order(["a", "b"], ["x"])


def test_folders(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "msk").mkdir()
    for name in ("t1.tif", "t2.tif"):
        (tmp_path / "img" / name).write_bytes(b"")
        (tmp_path / "msk" / name.replace(".tif", "_mask.tif")).write_bytes(b"")
    (tmp_path / "img" / "notes.txt").write_text("x")
    assert [p.rsplit("/", 1)[1] for p in folder_rasters(str(tmp_path / "img"), "image")] == ["t1.tif", "t2.tif"]
    assert len(pair_folders(str(tmp_path / "img"), str(tmp_path / "msk"))) == 2
    with pytest.raises(PairingError, match="same folder"):
        pair_folders(str(tmp_path / "img"), str(tmp_path / "img"))
    with pytest.raises(PairingError, match="does not exist"):
        pair_folders(str(tmp_path / "nope"), str(tmp_path / "msk"))
