"""Nothing from a stored legend or a class map reaches the HTML report unescaped; class maps in other encodings."""
import json

import numpy as np
import pytest

from balance_core.errors import InvalidParameterError
from balance_core.legend import ClassInfo, class_colour, legend_from_json, read_class_map, safe_colour
from balance_core.report import render_report
from balance_core.table import PatchTable

SCRIPT = '"><script>alert(1)</script>'


def _table():
    counts = np.array([[10, 0], [5, 5]])
    return PatchTable({"patch_id": np.arange(2), "excluded": np.array([False, False]),
                       "sampler_weight": np.array([1.0, 2.0])}, np.array([0, 1]), counts)


@pytest.mark.parametrize("text, expected", [
    ("#A1b2C3", "#a1b2c3"), ("a1b2c3", "#a1b2c3"), ("#a1b2c3ff", "#a1b2c3"), (" #000000 ", "#000000"),
    ("red", ""), ("#fff", ""), ("#a1b2c3\n", "#a1b2c3"), ("#a1b2c3;x", ""), (SCRIPT, ""), ("", ""), (None, ""), (7, ""),
])
def test_only_hex_colours_pass(text, expected):
    assert safe_colour(text) == expected


def test_a_stored_legend_with_markup_in_its_colour_is_neutralised():
    stored = json.dumps([{"value": 0, "name": "background", "colour": "#000000"},
                         {"value": 1, "name": "building", "colour": "red;background:url(x)" + SCRIPT}])
    legend = legend_from_json(stored)
    assert legend[0].colour == "#000000"
    assert legend[1] == ClassInfo(1, "building", "")  # the class keeps its name and gets a fallback colour
    assert class_colour(legend, 1, 1) == "#ff7f0e"


@pytest.mark.parametrize("text", ["{\"value\": 1}", "[1, 2]", "[{\"value\": \"x\", \"name\": \"a\"}]", "null", "[{}]",
                                  "[{\"value\": 1e999, \"name\": \"a\"}]"])
def test_a_malformed_stored_legend_is_ignored(text):
    assert legend_from_json(text) == {}


def test_nothing_from_the_legend_reaches_the_report_unescaped():
    legend = {0: ClassInfo(0, "<b>bg</b>", SCRIPT), 1: ClassInfo(1, SCRIPT, "#00ff00' onload='x")}
    html = render_report(_table(), legend, "<i>title</i>", {"Signals<script>": SCRIPT})
    assert "<script" not in html and "<b>bg" not in html and "<i>title" not in html
    assert "onload" not in html
    assert "&lt;script&gt;" in html  # the names are shown, as text


def test_latin1_class_map_is_read_with_a_note(tmp_path):
    path = tmp_path / "classes.csv"
    path.write_bytes("value,name,colour\n0,fond,#000000\n1,bâti élevé,#ff0000\n".encode("latin-1"))
    notes = []
    legend = read_class_map(str(path), warn=notes.append)
    assert legend[1] == ClassInfo(1, "bâti élevé", "#ff0000")
    assert len(notes) == 1 and "not UTF-8" in notes[0] and "Windows-1252" in notes[0]


def test_utf8_class_map_reads_without_a_note(tmp_path):
    path = tmp_path / "classes.csv"
    path.write_text("\ufeff0,fond\n1,bâti,#ff0000\n", encoding="utf-8")
    notes = []
    assert read_class_map(str(path), warn=notes.append)[1].name == "bâti"
    assert notes == []


def test_a_binary_file_given_as_class_map_is_refused(tmp_path):
    path = tmp_path / "mask.tif"
    path.write_bytes(b"II*\x00\x08\x00\x00\x00" + bytes(range(256)))
    with pytest.raises(InvalidParameterError, match="not a text file"):
        read_class_map(str(path))


@pytest.mark.parametrize("line, message", [("1,300,0,0,255,building", "0–255"), ("inf,building", "line 1"),
                                           ("1,building,#ff0000aa;", "not a #rrggbb colour")])
def test_bad_class_map_values_name_the_line(tmp_path, line, message):
    path = tmp_path / "classes.csv"
    path.write_text(line + "\n")
    with pytest.raises(InvalidParameterError, match=message):
        read_class_map(str(path))


def test_an_eight_digit_colour_in_a_class_map_drops_its_alpha(tmp_path):
    path = tmp_path / "classes.csv"
    path.write_text("1,building,#FF000080\n")
    assert read_class_map(str(path))[1].colour == "#ff0000"
