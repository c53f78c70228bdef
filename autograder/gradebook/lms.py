"""Import an LMS "download all submissions" archive into nbgrader's submitted/ layout.

``unpack_zip(archive, dest, names, roster, assignments)`` writes
``dest/<student_id>/<assignment>/<assignment>.ipynb`` (and nbgrader's ``timestamp.txt``
beside it when the file name carries a time) and returns a :class:`ZipImport` that
accounts for every file in the archive: placed, or not placed with the reason.

The work is nbgrader's where nbgrader has it (the parts of ``nbgrader zip_collect``):

1. *Screen* every member first (here): system files, unsafe paths (zip-slip: ``..``,
   absolute, drive letters, symbolic links), files that are not notebooks, and sizes past
   the caps (zip bombs: ``max_member_bytes`` per file, ``max_total_bytes`` in all) are
   set aside with their reason. Python's ``zipfile`` stops reading a member at its
   declared size and checks its CRC, so the declared sizes are the sizes that unpack.
2. *Unpack* the members that passed with nbgrader's ``ExtractorPlugin``. It gets a copy
   of the archive that holds only those members, so nothing else reaches the disk: no
   nested archive (which the extractor would unpack too), no file modes from the archive.
3. *Parse* each name with nbgrader's ``FileNameCollectorPlugin`` (its ``named_regexp``
   must give the groups ``student_id`` and ``file_id``; ``timestamp`` is optional). It is
   matched with ``re.match`` against the member's path inside the archive.
4. *Map* the LMS id to the course's student id through the roster's ``lms_id`` column,
   and the notebook to an assignment; keep the latest of several submissions.

``names``:

- ``canvas``: ``lastfirst_12345_67890_01_pixels.ipynb`` (12345 the Canvas user id, 67890
  the file's id), late ones ``lastfirst_LATE_12345_67890_01_pixels.ipynb``; Canvas adds
  ``-1``, ``-2`` to a resubmitted file's name (``01_pixels-1.ipynb``).
- ``moodle``: ``Full Name_123456_assignsubmission_file_01_pixels.ipynb``, or in folders
  ``Full Name_123456_assignsubmission_file_/01_pixels.ipynb`` (123456 the participant id).
- ``regex:PATTERN``: your own, e.g.
  ``regex:(?P<student_id>[^_/]+)__(?P<timestamp>[0-9T]+)__(?P<file_id>.+)``.
"""

from __future__ import annotations

import logging
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from nbgrader.plugins.zipcollect import ExtractorPlugin, FileNameCollectorPlugin
from nbgrader.utils import parse_utc

MAX_MEMBER_BYTES = 200 * 2**20  #: the largest file unpacked (uncompressed)
MAX_TOTAL_BYTES = 2 * 2**30     #: the most unpacked from one archive (uncompressed)

#: Canvas: any name without "/" (Canvas strips punctuation from it; older Canvas kept
#: hyphens), an optional late flag, the user id, the file's id, the student's file name.
CANVAS = (r"(?:.*/)?(?P<name>[^/]*?)(?:[_-](?P<late>(?i:late)))?"
          r"_(?P<student_id>[0-9]+)_(?P<attachment_id>[0-9]+)_(?P<file_id>[^/]+)$")
#: Moodle: full name (spaces, accents, apostrophes), participant id, the submission
#: plugin, then the file name after "_" (flat) or in a folder ("_/" or "/").
MOODLE = (r"(?:.*/)?(?P<name>[^/]*?)_(?P<student_id>[0-9]+)_assignsubmission_(?P<plugin>[a-z]+)"
          r"(?:_/|/|_)(?P<file_id>[^/].*)$")
PATTERNS = {"canvas": CANVAS, "moodle": MOODLE}

SYSTEM_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}

# nbgrader's plugins log a warning for every name they cannot parse; summary() lists each
# of those files with its reason, so their log stays out of the instructor's terminal.
_PLUGIN_LOG = logging.getLogger(f"{__name__}.nbgrader")
_PLUGIN_LOG.addHandler(logging.NullHandler())
_PLUGIN_LOG.propagate = False


@dataclass
class ZipImport:
    """Where every file of an LMS archive went.

    ``placed``: (student_id, assignment, member name in the archive);
    ``unmatched``: (member name, reason) for every other file (directories aside);
    ``notes``: what was decided along the way (a resubmission kept, a late flag);
    ``late``: (student_id, assignment) the LMS marked late.
    """

    placed: list[tuple[str, str, str]] = field(default_factory=list)
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    late: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> list[str]:
        """Human-readable lines: the counts, then each file not placed with its reason, then the notes."""
        students = len({sid for sid, _, _ in self.placed})
        head = f"zip: {_count(len(self.placed), 'notebook')} placed for {_count(students, 'student')}"
        if not self.unmatched:
            lines = [head + "."]
        else:
            lines = [f"{head}; {_count(len(self.unmatched), 'file')} not placed:"]
            lines += [f"  {member}: {reason}" for member, reason in self.unmatched]
        return lines + [f"  note: {note}" for note in self.notes]


@dataclass
class _Candidate:
    """One notebook that names a student and an assignment."""

    member: str
    path: Path
    student_id: str
    assignment: str
    resubmission: int           # Canvas's -N suffix, 0 without one
    timestamp: datetime | None
    attachment: int             # Canvas's file id (a later upload has a larger one), -1 if none
    late: bool

    def recency(self) -> tuple:
        return (self.timestamp or datetime.min, self.resubmission, self.attachment, self.member)


def unpack_zip(archive: Path, dest: Path, names: str, roster: list[dict] | None, assignments: list[str],
               *, max_member_bytes: int = MAX_MEMBER_BYTES, max_total_bytes: int = MAX_TOTAL_BYTES) -> ZipImport:
    """Unpack an LMS archive into ``dest/<student_id>/<assignment>/<assignment>.ipynb``.

    Parameters
    ----------
    archive : the LMS's "download all submissions" zip.
    dest : nbgrader's submitted/ folder (folders are created as needed).
    names : ``canvas``, ``moodle`` or ``regex:PATTERN`` (groups ``student_id`` and
        ``file_id`` required, ``timestamp`` optional).
    roster : rows with ``student_id`` and optionally ``lms_id``; None for no roster. With an
        ``lms_id`` column the LMS id maps to ``student_id`` through it; without one the LMS
        id is the student id. Either way, with a roster only its students are placed.
    assignments : assignment ids; a notebook belongs to the one its name's stem equals,
        once a Canvas resubmission suffix ``-N`` is removed (``01_pixels-1`` → ``01_pixels``).

    Returns
    -------
    ZipImport: every file member either placed or unmatched with its reason.

    Raises ``ValueError`` for an unknown ``names``, a bad pattern, a roster that gives one
    lms_id to two students, or an archive that cannot be opened as a zip file.
    """
    pattern = name_pattern(names)
    described = f"the {names} pattern" if names in PATTERNS else f"the pattern {pattern}"
    by_lms, on_roster = _roster_index(roster)
    collector = FileNameCollectorPlugin(named_regexp=pattern, log=_PLUGIN_LOG)
    result = ZipImport()
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{archive}: cannot open it as a zip archive ({e})") from None

    with zf, tempfile.TemporaryDirectory(prefix="lms-zip-") as tmp:
        accepted = _screen(zf, collector.valid_ext, max_member_bytes, max_total_bytes, result.unmatched)
        unpacked = _extract(zf, accepted, Path(tmp), result.unmatched)
        candidates: dict[tuple[str, str], list[_Candidate]] = {}
        for member, path in unpacked:
            found = _candidate(member, path, collector.collect(member), described, by_lms, on_roster, assignments)
            if isinstance(found, str):
                result.unmatched.append((member, found))
            else:
                candidates.setdefault((found.student_id, found.assignment), []).append(found)
        for key in sorted(candidates):
            _place(sorted(candidates[key], key=_Candidate.recency), Path(dest), result)

    result.unmatched.sort()
    return result


def name_pattern(names: str) -> str:
    """The ``named_regexp`` for ``canvas``, ``moodle`` or ``regex:PATTERN`` (checked)."""
    if names in PATTERNS:
        return PATTERNS[names]
    if not names.startswith("regex:"):
        raise ValueError(f"names must be canvas, moodle or regex:PATTERN, not {names!r}")
    pattern = names[len("regex:"):]
    try:
        groups = re.compile(pattern).groupindex
    except re.error as e:
        raise ValueError(f"names: {pattern!r} is not a regular expression: {e}") from None
    missing = [g for g in ("student_id", "file_id") if g not in groups]
    if missing:
        raise ValueError(f"names: {pattern!r} needs the named group(s) "
                         + ", ".join(f"(?P<{g}>...)" for g in missing))
    return pattern


def _roster_index(roster: list[dict] | None) -> tuple[dict[str, str] | None, set[str] | None]:
    """(lms_id → student_id, or None without an lms_id column; the roster's student ids, or None)."""
    if roster is None:
        return None, None
    on_roster = {str(r.get("student_id") or "").strip() for r in roster} - {""}
    if not any("lms_id" in r for r in roster):
        return None, on_roster
    by_lms: dict[str, str] = {}
    for r in roster:
        lms, sid = str(r.get("lms_id") or "").strip(), str(r.get("student_id") or "").strip()
        if not lms or not sid:
            continue
        if by_lms.setdefault(lms, sid) != sid:
            raise ValueError(f"roster: lms_id {lms} is given to both {by_lms[lms]} and {sid}")
    return by_lms, on_roster


def _screen(zf: zipfile.ZipFile, valid_ext: list[str], max_member: int, max_total: int,
            unmatched: list[tuple[str, str]]) -> list[zipfile.ZipInfo]:
    """The members safe to unpack; every other file member goes to ``unmatched`` with its reason."""
    accepted, seen, total = [], set(), 0
    for info in zf.infolist():
        name = info.filename
        if info.is_dir():
            continue
        parts = re.split(r"[/\\]", name)
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
            reason = "unsafe path (it would be written outside the folder it is unpacked to)"
        elif stat.S_ISLNK(info.external_attr >> 16):
            reason = "unsafe path (a symbolic link)"
        elif "__MACOSX" in parts or parts[-1] in SYSTEM_FILES:
            reason = "system file"
        elif PurePosixPath(parts[-1]).suffix not in valid_ext:
            reason = f"not a notebook ({PurePosixPath(parts[-1]).suffix or 'no extension'})"
        elif name in seen:
            reason = "duplicate entry (an earlier member of the archive has the same name)"
        elif info.file_size > max_member:
            reason = f"too large ({_size(info.file_size)} unpacked; the limit per file is {_size(max_member)})"
        elif total + info.file_size > max_total:
            reason = (f"too large (the archive's notebooks would unpack to more than {_size(max_total)}; "
                      "this one is past that)")
        else:
            accepted.append(info)
            seen.add(name)
            total += info.file_size
            continue
        unmatched.append((name, reason))
    return accepted


def _extract(zf: zipfile.ZipFile, accepted: list[zipfile.ZipInfo], tmp: Path,
             unmatched: list[tuple[str, str]]) -> list[tuple[str, Path]]:
    """Unpack ``accepted`` with nbgrader's ExtractorPlugin; (member name, unpacked path) for each."""
    archive_dir, extracted_dir = tmp / "archive", tmp / "extracted"
    archive_dir.mkdir()
    extracted_dir.mkdir()
    screened = archive_dir / "screened.zip"
    written = []
    with zipfile.ZipFile(screened, "w") as out:
        for info in accepted:
            try:
                data = zf.read(info)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error) as e:
                unmatched.append((info.filename, f"unreadable ({e})"))
                continue
            # A fresh ZipInfo: the name and date only, so no file mode from the archive is applied.
            out.writestr(zipfile.ZipInfo(info.filename, info.date_time), data)
            written.append(info.filename)
    if not written:
        return []
    ExtractorPlugin(zip_ext=[".zip"], log=_PLUGIN_LOG).extract(str(archive_dir), str(extracted_dir))
    root = extracted_dir / screened.stem
    unpacked = []
    for member in written:
        path = root.joinpath(*member.split("/"))
        if path.is_file():
            unpacked.append((member, path))
        else:
            unmatched.append((member, "not unpacked by nbgrader's extractor"))
    return unpacked


def _candidate(member: str, path: Path, info: dict | None, described: str, by_lms: dict[str, str] | None,
               on_roster: set[str] | None, assignments: list[str]) -> _Candidate | str:
    """The student and assignment a notebook belongs to, or the reason it has none."""
    if not info or not info.get("student_id") or not info.get("file_id"):
        return f"name does not match {described}"
    lms_id = info["student_id"].strip()
    if by_lms is not None:
        sid = by_lms.get(lms_id)
        if sid is None:
            return f"LMS id {lms_id} is not in the roster"
    else:
        sid = lms_id
        if on_roster is not None and sid not in on_roster:
            return (f"LMS id {lms_id} is not in the roster (it has no lms_id column, so the LMS id "
                    "must be the student_id)")
    if sid in ("", ".", "..") or re.search(r"[/\\\0]", sid):
        return f"student id {sid!r} cannot be a folder name"

    stem = PurePosixPath(PurePosixPath(info["file_id"]).name).stem
    assignment, resubmission = stem, 0
    if stem not in assignments:
        m = re.fullmatch(r"(.+)-(\d+)", stem)
        if m:
            assignment, resubmission = m[1], int(m[2])
    if assignment not in assignments:
        return f"not a notebook of a known assignment (known: {', '.join(assignments) or 'none'})"

    timestamp = None
    if info.get("timestamp"):
        try:
            timestamp = parse_utc(info["timestamp"])
        except (ValueError, OverflowError):
            return f"timestamp {info['timestamp']!r} in the name is not a date"
    attachment = int(info["attachment_id"]) if (info.get("attachment_id") or "").isdigit() else -1
    return _Candidate(member, path, sid, assignment, resubmission, timestamp, attachment, bool(info.get("late")))


def _place(candidates: list[_Candidate], dest: Path, result: ZipImport) -> None:
    """Copy the latest of one student's submissions of one assignment into ``dest``."""
    best = candidates[-1]
    sid, aid = best.student_id, best.assignment
    for older in candidates[:-1]:
        result.unmatched.append((older.member, f"superseded by {best.member} (the latest is kept)"))
    if len(candidates) > 1:
        how = "newest timestamp" if best.timestamp else "highest resubmission number"
        result.notes.append(f"{sid}/{aid}: {len(candidates)} submissions; kept the latest ({how}), {best.member}")
    folder = dest / sid / aid
    if folder.exists():
        result.notes.append(f"{sid}/{aid}: replaced the submission already in {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best.path, folder / f"{aid}.ipynb")
    stamp = folder / "timestamp.txt"
    if best.timestamp is not None:
        stamp.write_text(best.timestamp.isoformat(" "))  # as nbgrader zip_collect writes it
    elif stamp.exists():
        stamp.unlink()  # an earlier import's time would misdate this submission
    if best.late:
        result.late.append((sid, aid))
        if best.timestamp is None:
            result.notes.append(f"{sid}/{aid}: the LMS marked it LATE, but its name gives no time, so there is "
                                "no timestamp.txt and nbgrader applies no late penalty")
        else:
            result.notes.append(f"{sid}/{aid}: the LMS marked it LATE")
    result.placed.append((sid, aid, best.member))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _size(n: float) -> str:
    if n < 1024:
        return f"{int(n)} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            return f"{n:.3g} {unit}"
