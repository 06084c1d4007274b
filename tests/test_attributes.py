"""Attribute tables: ganeval's attributes.csv and CelebA's list_attr_celeba.txt layout.

Checked against independent facts: tables typed out by hand here (CelebA's real header and spacing,
Kaggle's CSV copy of it), Python's csv module and plain string splitting, round trips through both
layouts, and one-line errors that name the file (and line) for every kind of bad table.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ganeval import cli_data
from ganeval.datasets.attributes import (
    AttributeTable,
    find_table,
    image_paths,
    make_table,
    read_attributes,
    read_attributes_csv,
    read_celeba_attributes,
    table_to_celeba_text,
    table_to_csv_text,
    write_attributes,
)
from ganeval.errors import BadInputError

# The first lines of CelebA's list_attr_celeba.txt (first 5 of its 40 attributes, as spaced in the file).
CELEBA_TEXT = (
    "3\n"
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald \n"
    "000001.jpg -1  1  1 -1 -1\n"
    "000002.jpg -1 -1 -1  1 -1\n"
    "000003.jpg -1 -1 -1 -1 -1\n"
)
CELEBA_NAMES = ("5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald")
CELEBA_VALUES = np.array([[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 0]], dtype=np.uint8)


def _random_table(seed: int = 0, n: int = 25) -> AttributeTable:
    rng = np.random.default_rng(seed)
    return make_table([f"images/{i:06d}.png" for i in range(n)], rng.integers(0, 2, (n, 4)),
                      ["hat", "glasses", "smiling", "skin_tone"])


def _same(a: AttributeTable, b: AttributeTable) -> bool:
    return a.files == b.files and a.names == b.names and np.array_equal(a.values, b.values)


# -- reading what was typed by hand ---------------------------------------------------------------


def test_reads_celeba_layout(tmp_path):
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text(CELEBA_TEXT)
    table = read_attributes(path)
    assert table.layout == "celeba" and table.names == CELEBA_NAMES
    assert table.files == ("000001.jpg", "000002.jpg", "000003.jpg")
    assert table.values.dtype == np.uint8 and np.array_equal(table.values, CELEBA_VALUES)
    assert _same(table, read_celeba_attributes(path))
    assert table.prevalence() == pytest.approx(dict(zip(CELEBA_NAMES, CELEBA_VALUES.mean(axis=0))))


def test_reads_celeba_layout_with_windows_line_ends_and_any_spacing(tmp_path):
    path = tmp_path / "attrs"  # no suffix: detected from the count line
    path.write_bytes(CELEBA_TEXT.replace("\n", "\r\n").replace(" -1", "\t-1").encode())
    assert np.array_equal(read_attributes(path).values, CELEBA_VALUES)


def test_reads_ganeval_csv_and_kaggle_style_csv(tmp_path):
    ours = tmp_path / "attributes.csv"
    ours.write_text("file,hat,glasses\nimages/a.png,1,0\n\"images/b,c.png\",0,0\n")
    table = read_attributes(ours)
    assert table.layout == "csv" and table.names == ("hat", "glasses")
    assert table.files == ("images/a.png", "images/b,c.png")
    assert table.values.tolist() == [[1, 0], [0, 0]]
    kaggle = tmp_path / "list_attr_celeba.csv"
    kaggle.write_text("image_id,5_o_Clock_Shadow,Arched_Eyebrows,Attractive,Bags_Under_Eyes,Bald\n"
                      "000001.jpg,-1,1,1,-1,-1\n000002.jpg,-1,-1,-1,1,-1\n000003.jpg,-1,-1,-1,-1,-1\n")
    celeba = tmp_path / "list_attr_celeba.txt"
    celeba.write_text(CELEBA_TEXT)
    assert _same(read_attributes_csv(kaggle), read_attributes(celeba))


# -- round trips --------------------------------------------------------------------------------------


def test_both_layouts_round_trip_and_readers_agree(tmp_path):
    table = _random_table()
    csv_path = write_attributes(tmp_path / "attributes.csv", table)
    txt_path = write_attributes(tmp_path / "list_attr_celeba.txt", table)
    from_csv, from_txt = read_attributes(csv_path), read_attributes(txt_path)
    assert from_csv.layout == "csv" and from_txt.layout == "celeba"
    assert _same(from_csv, table) and _same(from_txt, table)
    # the csv is what Python's csv module reads; the txt is what plain splitting reads
    with open(csv_path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["file", "hat", "glasses", "smiling", "skin_tone"]
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == table.values.tolist()
    lines = txt_path.read_text().splitlines()
    assert int(lines[0]) == 25 and lines[1].split() == list(table.names)
    assert [[int(v) for v in ln.split()[1:]] for ln in lines[2:]] == (table.values.astype(int) * 2 - 1).tolist()
    # and converting either way gives the other file byte for byte
    assert table_to_csv_text(from_txt) == csv_path.read_text()
    assert table_to_celeba_text(from_csv) == txt_path.read_text()


def test_celeba_text_matches_the_original_spacing():
    table = make_table(["000001.jpg", "000002.jpg", "000003.jpg"], CELEBA_VALUES, CELEBA_NAMES)
    assert table_to_celeba_text(table) == CELEBA_TEXT


def test_celeba_layout_refuses_file_names_with_spaces(tmp_path):
    table = make_table(["a b.png"], [[1]], ["hat"])
    with pytest.raises(BadInputError, match="white space"):
        write_attributes(tmp_path / "x.txt", table)
    assert not (tmp_path / "x.txt").exists()
    assert read_attributes(write_attributes(tmp_path / "x.csv", table)).files == ("a b.png",)


# -- finding tables and images --------------------------------------------------------------------------


def test_tables_and_images_are_found_in_the_usual_places(tmp_path):
    (tmp_path / "Anno").mkdir()
    (tmp_path / "Anno" / "list_attr_celeba.txt").write_text(CELEBA_TEXT)
    (tmp_path / "img_align_celeba").mkdir()
    for i in range(1, 4):
        (tmp_path / "img_align_celeba" / f"00000{i}.jpg").write_bytes(b"x")
    assert find_table(tmp_path) == tmp_path / "Anno" / "list_attr_celeba.txt"
    table = read_attributes(tmp_path)
    assert image_paths(table) == [tmp_path / "Anno" / ".." / "img_align_celeba" / f"00000{i}.jpg" for i in (1, 2, 3)]
    (tmp_path / "attributes.csv").write_text("file,Bald\nimg_align_celeba/000001.jpg,1\n")
    assert read_attributes(tmp_path).layout == "csv"  # attributes.csv comes first
    assert image_paths(read_attributes(tmp_path)) == [tmp_path / "img_align_celeba" / "000001.jpg"]


def test_missing_images_are_named(tmp_path):
    (tmp_path / "list_attr_celeba.txt").write_text(CELEBA_TEXT)
    (tmp_path / "000001.jpg").write_bytes(b"x")
    (tmp_path / "000003.jpg").write_bytes(b"x")
    with pytest.raises(BadInputError) as info:
        image_paths(read_attributes(tmp_path))
    msg = str(info.value)
    assert "list_attr_celeba.txt" in msg and "1 image(s) missing" in msg and "000002.jpg" in msg and "\n" not in msg
    (tmp_path / "000001.jpg").unlink()
    with pytest.raises(BadInputError, match="cannot find its first image 000001.jpg"):
        image_paths(read_attributes(tmp_path))
    other = tmp_path / "elsewhere"
    other.mkdir()
    for i in range(1, 4):
        (other / f"00000{i}.jpg").write_bytes(b"x")
    assert image_paths(read_attributes(tmp_path), images_dir=other) == [other / f"00000{i}.jpg" for i in (1, 2, 3)]


# -- bad tables ---------------------------------------------------------------------------------------------


BAD_CSV = [
    ("name,hat\na.png,1\n", "first column must be 'file'"),
    ("file\na.png\n", "no attribute columns"),
    ("file,hat,glasses\na.png,1\n", "line 2: 2 columns, but the header has 3"),
    ("file,hat\na.png,2\n", "line 2: value '2' of 'hat' is not 0/1 or -1/1"),
    ("file,hat\na.png,yes\n", "value 'yes'"),
    ("file,hat\na.png,-1\nb.png,0\n", "line 3: value '0' of 'hat' in a file that uses -1/1"),
    ("file,hat,hat\na.png,1,0\n", "attribute 'hat' appears more than once"),
    ("file,hat\na.png,1\na.png,0\n", "line 3: file 'a.png' is listed twice"),
    ("file,hat\n,1\n", "empty file name"),
    ("file,hat\n", "lists no images"),
    ("", "it is empty"),
]


@pytest.mark.parametrize("text,match", BAD_CSV)
def test_bad_csv_tables_give_one_line_errors_naming_the_file(tmp_path, text, match):
    path = tmp_path / "attributes.csv"
    path.write_text(text)
    with pytest.raises(BadInputError) as info:
        read_attributes(path)
    msg = str(info.value)
    assert match in msg and str(path) in msg and "\n" not in msg


BAD_CELEBA = [
    ("3\nA B\nx.jpg 1 -1\n", "line 1 says 3 images but 1 are listed"),
    ("many\nA B\nx.jpg 1 -1\n", "line 1: expected the number of images"),
    ("1\nA B\nx.jpg 1\n", "line 3: 1 values for 2 attributes"),
    ("1\nA B\nx.jpg 1 3\n", "line 3: value '3' of 'B'"),
    ("1\nA A\nx.jpg 1 -1\n", "line 2: attribute 'A' appears more than once"),
    ("2\nA\nx.jpg 1\nx.jpg -1\n", "file 'x.jpg' is listed twice"),
    ("1\n", "expected a count line and an attribute-name line"),
]


@pytest.mark.parametrize("text,match", BAD_CELEBA)
def test_bad_celeba_tables_give_one_line_errors_naming_the_file(tmp_path, text, match):
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text(text)
    with pytest.raises(BadInputError) as info:
        read_attributes(path)
    msg = str(info.value)
    assert match in msg and str(path) in msg and "\n" not in msg


def test_unreadable_and_absent_tables(tmp_path):
    with pytest.raises(BadInputError, match="no such attribute file"):
        read_attributes(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"file,a\n\xff\xfe,1\n")
    with pytest.raises(BadInputError, match="not UTF-8"):
        read_attributes(tmp_path / "bin.csv")
    with pytest.raises(BadInputError, match="no attribute table in"):
        read_attributes(tmp_path)


def test_missing_attribute_is_named(tmp_path):
    path = tmp_path / "attributes.csv"
    path.write_text("file,hat\na.png,1\n")
    table = read_attributes(path)
    assert table.column("hat").tolist() == [1]
    with pytest.raises(BadInputError, match=r"has no attribute 'smiling' \(it has: hat\)"):
        table.column("smiling")


def test_make_table_validates():
    with pytest.raises(BadInputError, match="do not match"):
        make_table(["a"], [[1, 0]], ["x"])
    with pytest.raises(BadInputError, match="0/1"):
        make_table(["a"], [[2]], ["x"])
    with pytest.raises(BadInputError, match="listed twice"):
        make_table(["a", "a"], [[1], [0]], ["x"])


# -- the command ---------------------------------------------------------------------------------------------


def test_attributes_command_summarises_and_converts(tmp_path):
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        pass

    cli_data.register(app)
    src = tmp_path / "list_attr_celeba.txt"
    src.write_text(CELEBA_TEXT)
    result = CliRunner().invoke(app, ["data", "attributes", str(src), "--convert", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    assert "3 images, 5 attributes (celeba layout)" in result.output and "0.3333" in result.output
    assert _same(read_attributes(tmp_path / "out.csv"), read_attributes(src))
    bad = tmp_path / "bad.csv"
    bad.write_text("file,hat\na.png,7\n")
    result = CliRunner().invoke(app, ["data", "attributes", str(bad)])
    assert isinstance(result.exception, BadInputError) and "bad.csv" in str(result.exception)
