"""A hand-edited patch layer fed to the next step is refused with the patch ids at fault, never half-used."""
import numpy as np
import pytest

from balance_core.config import BalanceConfig
from balance_core.dataset import check_record_windows, open_dataset
from balance_core.errors import InvalidParameterError
from balance_core.patch_records import table_from_records
from balance_core.pipeline import composition_step, grid_step
from balance_core.progress import NullProgress
from balance_core.schema import class_dist_json, output_columns

pytestmark = pytest.mark.usefixtures("raster_backend")  # every test over both raster_io adapters


@pytest.fixture
def composed(write_raster):
    """Records of a composed 4×4 grid: class 2 only in patch 0, nodata (255) in patch 5."""
    mask = np.ones((64, 64), np.uint8)
    mask[:8, :8] = 2
    mask[16:20, 16:24] = 255
    pair = (write_raster("image.tif", np.full((3, 64, 64), 90, np.uint8)), write_raster("mask.tif", mask, nodata=255))
    dataset = open_dataset([pair])
    config = BalanceConfig(patch_size=16, exclude_border_nodata=False)
    table = composition_step(grid_step(dataset, config), dataset, config, NullProgress())
    return {c.name: c.as_list() for c in output_columns(table)}, table


def test_unedited_records_read_back(composed):
    records, table = composed
    again = table_from_records(records, need_windows=True)
    np.testing.assert_array_equal(again.fractions(), table.fractions())
    assert again["nodata_ratio"][5] == 32 / 256 and again.fractions()[5].sum() == pytest.approx(1.0)


def test_repeated_patch_ids_are_named(composed):
    records, _ = composed
    records["patch_id"][3] = 7
    records["patch_id"][9] = 7
    records["patch_id"][4] = 11
    with pytest.raises(InvalidParameterError, match=r"2 id\(s\) appear more than once \(patches 7, 11; 5 rows\)"):
        table_from_records(records)


def test_an_empty_patch_id_is_named_by_row(composed):
    records, _ = composed
    records["patch_id"][2] = None
    with pytest.raises(InvalidParameterError, match=r"patch_id is empty for row 3 \(1 in all\)"):
        table_from_records(records)


@pytest.mark.parametrize("field", ["c_1", "row_off", "nodata_ratio", "uniqueness_score", "patch_id"])
def test_text_in_a_numeric_field_is_named(composed, field):
    records, _ = composed
    records["uniqueness_score"] = [0.5] * 16
    records[field][6] = "n/a"
    records[field][12] = "twelve"
    expected = "rows 7, 13" if field == "patch_id" else "patches 6, 12"
    with pytest.raises(InvalidParameterError, match=rf"The field {field} holds text that is not a number \('n/a'\) "
                                                    rf"for {expected} \(2 in all\)"):
        table_from_records(records, need_windows=True)


def test_numbers_given_as_text_still_read(composed):
    """A CSV layer may type every field as text: '0.25' is a number."""
    records, table = composed
    text = {k: [None if v is None else str(v) for v in values] for k, values in records.items()}
    again = table_from_records(text, need_windows=True)
    np.testing.assert_allclose(again.fractions(), table.fractions())


def test_a_deleted_class_field_is_refused_with_the_patches_it_leaves_short(composed):
    records, _ = composed
    del records["c_2"]
    with pytest.raises(InvalidParameterError, match=r"class fractions of 1 patch\(es\) do not sum to 1 \(patch 0; "
                                                    r"e\.g\. 0\.75\).*deleted"):
        table_from_records(records)


def test_a_patch_left_with_no_fraction_but_labelled_pixels_is_refused(composed):
    records, _ = composed
    records["c_1"][15] = 0.0  # patch 15 is all class 1: no fraction left, yet nodata_ratio 0
    with pytest.raises(InvalidParameterError, match=r"do not sum to 1 \(patch 15; e\.g\. 0\)"):
        table_from_records(records)


@pytest.mark.parametrize("value, shown", [(1.5, "1.5"), (-0.25, "-0.25"), (float("nan"), "nan")])
def test_fractions_outside_0_1_are_refused(composed, value, shown):
    records, _ = composed
    records["c_1"][8] = value
    with pytest.raises(InvalidParameterError, match=rf"between 0 and 1: c_1 is {shown} for patch 8"):
        table_from_records(records)


def test_nodata_ratio_outside_0_1_is_refused(composed):
    records, _ = composed
    records["nodata_ratio"][1] = 7
    with pytest.raises(InvalidParameterError, match=r"nodata_ratio must lie between 0 and 1; it is 7.0 for patch 1"):
        table_from_records(records)


def test_rounded_json_fractions_are_accepted(composed):
    _, table = composed
    records = {"patch_id": table["patch_id"].tolist(), "class_dist_json": class_dist_json(table),
               "nodata_ratio": table["nodata_ratio"].tolist()}
    records["class_dist_json"][0] = '{"1": 0.3333333, "2": 0.3333333, "3": 0.3333333}'
    assert len(table_from_records(records, need_composition=True)) == 16
    records["class_dist_json"][1] = '{"1": 0.5}'
    with pytest.raises(InvalidParameterError, match=r"do not sum to 1 \(patch 1;"):
        table_from_records(records, need_composition=True)


@pytest.mark.parametrize("field, value, message", [("row_off", 12.5, "must hold whole numbers"),
                                                   ("col_off", -16, "must be at least 0"),
                                                   ("patch_size", 0, "must be at least 1")])
def test_impossible_windows_are_refused_on_reading(composed, field, value, message):
    records, _ = composed
    records[field][4] = value
    with pytest.raises(InvalidParameterError, match=f"{message}.*patch 4"):
        table_from_records(records, need_windows=True)


def test_weights_step_windows_are_checked_against_the_raster_headers(composed):
    records, _ = composed
    records["col_off"][2] = 60
    records["row_off"][13] = 56
    table = table_from_records(records, need_windows=True)
    with pytest.raises(InvalidParameterError, match=r"Patch 2 \(row_off 0, col_off 60, size 16\) reaches outside "
                                                    r".*image.tif' \(64×64 px\); 2 patch\(es\) in all \(patches 2, 13\)"):
        check_record_windows(table, NullProgress())


def test_a_raster_that_is_gone_is_a_warning_for_the_weights_step(composed, tmp_path):
    records, _ = composed
    records["image_path"] = [str(tmp_path / "moved.tif")] * 16
    progress = NullProgress()
    check_record_windows(table_from_records(records, need_windows=True), progress)  # the mask still checks
    assert len(progress.warnings) == 1
    assert "1 raster(s)" in progress.warnings[0] and "moved.tif': no such file" in progress.warnings[0]


def test_a_source_without_windows_needs_no_raster():
    table = table_from_records({"id": [1, 2], "class_dist_json": ['{"0": 1.0}', '{"1": 1.0}']}, need_composition=True)
    progress = NullProgress()
    check_record_windows(table, progress)
    assert progress.warnings == []
