"""LMS archives in (autograder/gradebook/lms.py) and the Canvas gradebook CSV out
(autograder/gradebook/canvas.py). Real zip files are built with ``zipfile`` in Canvas's,
Moodle's and a custom naming; every member must end up placed, or not placed with the
right reason, and nothing may be written outside ``dest``."""

from __future__ import annotations

import csv
import stat
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell, new_notebook

from autograder.gradebook.canvas import canvas_csv
from autograder.gradebook.lms import unpack_zip

AIDS = ["01_pixels", "02_convolution"]
KNOWN = "not a notebook of a known assignment (known: 01_pixels, 02_convolution)"
UNSAFE = "unsafe path (it would be written outside the folder it is unpacked to)"
ROSTER = [
    {"student_id": "s1", "lms_id": "12345", "name": "Ada Lovelace"},
    {"student_id": "s2", "lms_id": "23456", "name": "Seán O'Brien"},
    {"student_id": "s3", "lms_id": "34567", "name": "Jürgen Müller"},
]


def nb(tag: str) -> bytes:
    """A small valid notebook whose one cell says ``tag``, so a test can tell which file landed."""
    return nbformat.writes(new_notebook(cells=[new_markdown_cell(tag)])).encode()


def tag(path: Path) -> str:
    return nbformat.read(path, as_version=4).cells[0].source


def make_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]],
             compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members:
            z.writestr(name, data)
    return path


def files_under(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def accounted(result, members) -> None:
    """Every file member is placed or unmatched, exactly once."""
    names = [m.filename if isinstance(m, zipfile.ZipInfo) else m for m, _ in members]
    files = sorted(n for n in names if not n.endswith("/"))
    assert sorted([m for _, _, m in result.placed] + [m for m, _ in result.unmatched]) == files


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


CANVAS_MEMBERS = [
    ("lovelaceada_12345_1001_01_pixels.ipynb", nb("s1 pixels")),
    ("lovelaceada_12345_1002_02_convolution.ipynb", nb("s1 convolution")),
    ("obriensean_LATE_23456_1003_01_pixels.ipynb", nb("s2 pixels, late")),
    # the resubmission comes first in the archive: the later one must win by its -1, not by order
    ("mullerjurgen_34567_1010_01_pixels-1.ipynb", nb("s3 pixels, second try")),
    ("mullerjurgen_34567_1004_01_pixels.ipynb", nb("s3 pixels, first try")),
    ("strangerjoe_99999_1005_01_pixels.ipynb", nb("not on the roster")),
    ("lovelaceada_12345_1006_report.pdf", b"%PDF-1.4 a report"),
    ("lovelaceada_12345_1007_scratch.ipynb", nb("scratch")),
    ("readme.ipynb", nb("readme")),
    ("__MACOSX/._lovelaceada_12345_1001_01_pixels.ipynb", b"\x00\x05\x16\x07 resource fork"),
    (".DS_Store", b"\x00\x00\x00\x01Bud1"),
    ("../evil.ipynb", nb("evil")),
    ("/abs_12345_1008_01_pixels.ipynb", nb("absolute")),
    (symlink("link_12345_1009_02_convolution.ipynb"), b"../../../etc/passwd"),
    ("emptyfolder/", b""),
]


def test_canvas_zip(tmp_path):
    archive = make_zip(tmp_path / "submissions.zip", CANVAS_MEMBERS)
    dest = tmp_path / "out" / "submissions"
    result = unpack_zip(archive, dest, "canvas", ROSTER, AIDS)

    assert result.placed == [
        ("s1", "01_pixels", "lovelaceada_12345_1001_01_pixels.ipynb"),
        ("s1", "02_convolution", "lovelaceada_12345_1002_02_convolution.ipynb"),
        ("s2", "01_pixels", "obriensean_LATE_23456_1003_01_pixels.ipynb"),
        ("s3", "01_pixels", "mullerjurgen_34567_1010_01_pixels-1.ipynb"),
    ]
    assert dict(result.unmatched) == {
        "mullerjurgen_34567_1004_01_pixels.ipynb":
            "superseded by mullerjurgen_34567_1010_01_pixels-1.ipynb (the latest is kept)",
        "strangerjoe_99999_1005_01_pixels.ipynb": "LMS id 99999 is not in the roster",
        "lovelaceada_12345_1006_report.pdf": "not a notebook (.pdf)",
        "lovelaceada_12345_1007_scratch.ipynb": KNOWN,
        "readme.ipynb": "name does not match the canvas pattern",
        "__MACOSX/._lovelaceada_12345_1001_01_pixels.ipynb": "system file",
        ".DS_Store": "system file",
        "../evil.ipynb": UNSAFE,
        "/abs_12345_1008_01_pixels.ipynb": UNSAFE,
        "link_12345_1009_02_convolution.ipynb": "unsafe path (a symbolic link)",
    }
    accounted(result, CANVAS_MEMBERS)
    assert result.late == [("s2", "01_pixels")]
    assert result.notes == [
        "s2/01_pixels: the LMS marked it LATE, but its name gives no time, so there is no timestamp.txt "
        "and nbgrader applies no late penalty",
        "s3/01_pixels: 2 submissions; kept the latest (highest resubmission number), "
        "mullerjurgen_34567_1010_01_pixels-1.ipynb",
    ]

    # exactly these files, each the right one, and nothing beside dest (no evil.ipynb, no timestamps)
    placed = files_under(dest)
    assert list(placed) == ["s1/01_pixels/01_pixels.ipynb", "s1/02_convolution/02_convolution.ipynb",
                            "s2/01_pixels/01_pixels.ipynb", "s3/01_pixels/01_pixels.ipynb"]
    assert [tag(p) for p in placed.values()] == ["s1 pixels", "s1 convolution", "s2 pixels, late",
                                                 "s3 pixels, second try"]
    assert sorted(files_under(tmp_path)) == ["out/submissions/" + p for p in placed] + ["submissions.zip"]

    lines = result.summary()
    assert lines[0] == "zip: 4 notebooks placed for 3 students; 10 files not placed:"
    assert "  strangerjoe_99999_1005_01_pixels.ipynb: LMS id 99999 is not in the roster" in lines
    assert "  .DS_Store: system file" in lines
    assert lines[-1].startswith("  note: s3/01_pixels: 2 submissions; kept the latest")


def test_canvas_zip_without_roster_uses_lms_ids(tmp_path):
    members = CANVAS_MEMBERS[:3] + [CANVAS_MEMBERS[5]]
    result = unpack_zip(make_zip(tmp_path / "a.zip", members), tmp_path / "sub", "canvas", None, AIDS)
    assert result.placed == [
        ("12345", "01_pixels", "lovelaceada_12345_1001_01_pixels.ipynb"),
        ("12345", "02_convolution", "lovelaceada_12345_1002_02_convolution.ipynb"),
        ("23456", "01_pixels", "obriensean_LATE_23456_1003_01_pixels.ipynb"),
        ("99999", "01_pixels", "strangerjoe_99999_1005_01_pixels.ipynb"),
    ]
    assert result.unmatched == []
    assert result.summary()[0] == "zip: 4 notebooks placed for 3 students."
    assert tag(tmp_path / "sub" / "99999" / "01_pixels" / "01_pixels.ipynb") == "not on the roster"


def test_roster_without_lms_id_column_needs_lms_id_as_student_id(tmp_path):
    archive = make_zip(tmp_path / "a.zip", CANVAS_MEMBERS[:3])
    roster = [{"student_id": "12345", "name": "Ada Lovelace"}]
    result = unpack_zip(archive, tmp_path / "sub", "canvas", roster, AIDS)
    assert [p[:2] for p in result.placed] == [("12345", "01_pixels"), ("12345", "02_convolution")]
    assert result.unmatched == [("obriensean_LATE_23456_1003_01_pixels.ipynb",
                                 "LMS id 23456 is not in the roster (it has no lms_id column, so the LMS id "
                                 "must be the student_id)")]


def test_reimport_replaces_notebook_and_drops_stale_timestamp(tmp_path):
    dest = tmp_path / "sub"
    old = dest / "s1" / "01_pixels"
    old.mkdir(parents=True)
    (old / "01_pixels.ipynb").write_bytes(nb("old download"))
    (old / "timestamp.txt").write_text("2020-01-01 00:00:00")
    result = unpack_zip(make_zip(tmp_path / "a.zip", CANVAS_MEMBERS[:1]), dest, "canvas", ROSTER, AIDS)
    assert tag(old / "01_pixels.ipynb") == "s1 pixels"
    assert not (old / "timestamp.txt").exists()
    assert result.notes == [f"s1/01_pixels: replaced the submission already in {old}"]


def test_moodle_zip_flat_and_folders(tmp_path):
    members = [
        ("José Álvarez-Núñez_500001_assignsubmission_file_01_pixels.ipynb", nb("jose pixels")),
        ("Zoë O'Neil_500002_assignsubmission_file_/02_convolution.ipynb", nb("zoe convolution")),
        ("Zoë O'Neil_500002_assignsubmission_file_/notes.txt", b"my notes"),
        ("Ann Lee_500003_assignsubmission_onlinetext_onlinetext.html", b"<p>hi</p>"),
        ("Ann Lee_500003_assignsubmission_file/01_pixels.ipynb", nb("ann pixels")),
        ("Bo Chen_500009_assignsubmission_file_01_pixels.ipynb", nb("bo pixels")),
        ("Ann Lee_500003_assignsubmission_file_/lesson1.ipynb", nb("ann wrong name")),
    ]
    roster = [{"student_id": "s1", "lms_id": "500001"}, {"student_id": "s2", "lms_id": "500002"},
              {"student_id": "s3", "lms_id": "500003"}]
    dest = tmp_path / "sub"
    result = unpack_zip(make_zip(tmp_path / "moodle.zip", members), dest, "moodle", roster, AIDS)
    assert result.placed == [
        ("s1", "01_pixels", "José Álvarez-Núñez_500001_assignsubmission_file_01_pixels.ipynb"),
        ("s2", "02_convolution", "Zoë O'Neil_500002_assignsubmission_file_/02_convolution.ipynb"),
        ("s3", "01_pixels", "Ann Lee_500003_assignsubmission_file/01_pixels.ipynb"),
    ]
    assert dict(result.unmatched) == {
        "Zoë O'Neil_500002_assignsubmission_file_/notes.txt": "not a notebook (.txt)",
        "Ann Lee_500003_assignsubmission_onlinetext_onlinetext.html": "not a notebook (.html)",
        "Bo Chen_500009_assignsubmission_file_01_pixels.ipynb": "LMS id 500009 is not in the roster",
        "Ann Lee_500003_assignsubmission_file_/lesson1.ipynb": KNOWN,
    }
    accounted(result, members)
    placed = files_under(dest)
    assert {k: tag(p) for k, p in placed.items()} == {
        "s1/01_pixels/01_pixels.ipynb": "jose pixels",
        "s2/02_convolution/02_convolution.ipynb": "zoe convolution",
        "s3/01_pixels/01_pixels.ipynb": "ann pixels",
    }
    assert result.late == [] and result.notes == []


def test_regex_names_with_timestamps(tmp_path):
    pattern = r"(?P<student_id>[a-z0-9]+)__(?P<timestamp>[^_]+)__(?P<file_id>.+)"
    members = [
        # a higher -N but an older time: the newer timestamp wins
        ("ada__20240301T140500__01_pixels-1.ipynb", nb("ada older")),
        ("ada__20240302T090000__01_pixels.ipynb", nb("ada newer")),
        ("alan__20240301T120000__02_convolution.ipynb", nb("alan convolution")),
        ("bob__20240301T120000__01_pixels.ipynb", nb("bob")),
        ("alan__notadate__01_pixels.ipynb", nb("alan bad time")),
        ("nodelimiters.ipynb", nb("nothing")),
    ]
    roster = [{"student_id": "ada"}, {"student_id": "alan"}]
    dest = tmp_path / "sub"
    result = unpack_zip(make_zip(tmp_path / "r.zip", members), dest, f"regex:{pattern}", roster, AIDS)
    assert result.placed == [("ada", "01_pixels", "ada__20240302T090000__01_pixels.ipynb"),
                             ("alan", "02_convolution", "alan__20240301T120000__02_convolution.ipynb")]
    assert dict(result.unmatched) == {
        "ada__20240301T140500__01_pixels-1.ipynb": "superseded by ada__20240302T090000__01_pixels.ipynb "
                                                   "(the latest is kept)",
        "bob__20240301T120000__01_pixels.ipynb": "LMS id bob is not in the roster (it has no lms_id column, "
                                                 "so the LMS id must be the student_id)",
        "alan__notadate__01_pixels.ipynb": "timestamp 'notadate' in the name is not a date",
        "nodelimiters.ipynb": f"name does not match the pattern {pattern}",
    }
    accounted(result, members)
    assert tag(dest / "ada" / "01_pixels" / "01_pixels.ipynb") == "ada newer"
    assert (dest / "ada" / "01_pixels" / "timestamp.txt").read_text() == "2024-03-02 09:00:00"
    assert (dest / "alan" / "02_convolution" / "timestamp.txt").read_text() == "2024-03-01 12:00:00"
    assert result.notes == ["ada/01_pixels: 2 submissions; kept the latest (newest timestamp), "
                            "ada__20240302T090000__01_pixels.ipynb"]


def test_zip_bomb_caps(tmp_path):
    bomb = b"\x00" * 300_000                      # deflates to well under 1 KB
    members = [("lovelaceada_12345_1001_01_pixels.ipynb", bomb),
               ("obriensean_23456_1003_01_pixels.ipynb", nb("s2") + b" " * 40_000),
               ("mullerjurgen_34567_1004_01_pixels.ipynb", nb("s3") + b" " * 40_000),
               ("lovelaceada_12345_1002_02_convolution.ipynb", nb("s1") + b" " * 40_000)]
    archive = make_zip(tmp_path / "bomb.zip", members)
    with zipfile.ZipFile(archive) as z:
        assert z.getinfo(members[0][0]).compress_size < 1000
    dest = tmp_path / "sub"
    result = unpack_zip(archive, dest, "canvas", ROSTER, AIDS, max_member_bytes=100_000, max_total_bytes=90_000)
    assert dict(result.unmatched) == {
        "lovelaceada_12345_1001_01_pixels.ipynb": "too large (293 KiB unpacked; the limit per file is 97.7 KiB)",
        "lovelaceada_12345_1002_02_convolution.ipynb":
            "too large (the archive's notebooks would unpack to more than 87.9 KiB; this one is past that)",
    }
    assert [p[:2] for p in result.placed] == [("s2", "01_pixels"), ("s3", "01_pixels")]
    assert list(files_under(dest)) == ["s2/01_pixels/01_pixels.ipynb", "s3/01_pixels/01_pixels.ipynb"]


def test_corrupt_member_is_reported(tmp_path):
    good = nb("CORRUPT-ME please")
    members = [("lovelaceada_12345_1001_01_pixels.ipynb", good), CANVAS_MEMBERS[1]]
    archive = make_zip(tmp_path / "c.zip", members, compression=zipfile.ZIP_STORED)
    raw = bytearray(archive.read_bytes())
    at = raw.index(b"CORRUPT-ME")
    raw[at] = ord("X")                             # the stored bytes no longer match the CRC
    archive.write_bytes(bytes(raw))
    result = unpack_zip(archive, tmp_path / "sub", "canvas", ROSTER, AIDS)
    assert len(result.unmatched) == 1
    member, reason = result.unmatched[0]
    assert member == "lovelaceada_12345_1001_01_pixels.ipynb" and reason.startswith("unreadable (")
    assert result.placed == [("s1", "02_convolution", "lovelaceada_12345_1002_02_convolution.ipynb")]


@pytest.mark.parametrize("names, message", [
    ("blackboard", "names must be canvas, moodle or regex:PATTERN"),
    (r"regex:(?P<student_id>\w+)_.*", "needs the named group(s) (?P<file_id>...)"),
    ("regex:(?P<student_id>", "is not a regular expression"),
])
def test_bad_names(tmp_path, names, message):
    archive = make_zip(tmp_path / "a.zip", CANVAS_MEMBERS[:1])
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        unpack_zip(archive, tmp_path / "sub", names, None, AIDS)
    assert not (tmp_path / "sub").exists()


def test_bad_roster_and_bad_archive(tmp_path):
    archive = make_zip(tmp_path / "a.zip", CANVAS_MEMBERS[:1])
    roster = ROSTER + [{"student_id": "s4", "lms_id": "12345"}]
    with pytest.raises(ValueError, match="lms_id 12345 is given to both s1 and s4"):
        unpack_zip(archive, tmp_path / "sub", "canvas", roster, AIDS)
    not_zip = tmp_path / "grades.zip"
    not_zip.write_text("student_id,score\n")
    with pytest.raises(ValueError, match="cannot open it as a zip archive"):
        unpack_zip(not_zip, tmp_path / "sub", "canvas", ROSTER, AIDS)


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_canvas_csv(tmp_path):
    rows = [
        {"student_id": "s1", "assignment": "01_pixels", "score": 9.5},
        {"student_id": "s1", "assignment": "02_convolution", "score": 12.0},
        {"student_id": "s2", "assignment": "01_pixels", "score": 7},
        {"student_id": "s9", "assignment": "01_pixels", "score": 3.25},      # graded, not on the roster
        {"student_id": "s1", "assignment": "99_extra", "score": 1.0},        # not a requested column
    ]
    roster = ROSTER + [{"student_id": "s4", "first_name": "Grace", "last_name": "Hopper", "lms_id": ""}]
    out = canvas_csv(rows, [("01_pixels", 10.0), ("02_convolution", 12.5)], roster, tmp_path / "x" / "canvas.csv")
    assert out == tmp_path / "x" / "canvas.csv"
    assert read_csv(out) == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01_pixels", "02_convolution"],
        ["Points Possible", "", "", "", "", "10", "12.5"],
        ["Ada Lovelace", "12345", "s1", "s1", "", "9.5", "12"],
        ["Seán O'Brien", "23456", "s2", "s2", "", "7", ""],
        ["Jürgen Müller", "34567", "s3", "s3", "", "", ""],
        ["Hopper, Grace", "", "s4", "s4", "", "", ""],
        ["s9", "", "s9", "s9", "", "3.25", ""],
    ]


def test_canvas_csv_without_roster_and_duplicates(tmp_path):
    rows = [{"student_id": "zed", "assignment": "01_pixels", "score": 0.0},
            {"student_id": "amy", "assignment": "01_pixels", "score": 4.125}]
    out = canvas_csv(rows, [("01_pixels", 5)], None, tmp_path / "c.csv")
    assert read_csv(out) == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "01_pixels"],
        ["Points Possible", "", "", "", "", "5"],
        ["amy", "", "amy", "amy", "", "4.125"],
        ["zed", "", "zed", "zed", "", "0"],
    ]
    with pytest.raises(ValueError, match="two scores for amy/01_pixels"):
        canvas_csv(rows + rows[1:], [("01_pixels", 5)], None, tmp_path / "d.csv")
