"""The one output policy: where a raregal command may write, and how.

Every command that writes a folder goes through :func:`prepare`, before any
computation, and then :func:`atomic_dir` (or :meth:`Target.make_dir` for the
commands that work in place so that they can resume: embed, train, demo).

What :func:`prepare` guarantees, or refuses with one line (:class:`InputError`):

- **Only raregal's own folders are replaced.** ``out`` must be new (or an empty
  folder), or a raregal output *of the same kind*: its marker file
  ``.raregal-output.json`` says ``{"kind": "search"}`` (or report, evaluate, embed,
  baseline, train, inject, demo). Replacing one needs ``overwrite``. A folder
  without the marker is never replaced or deleted, whatever the flags.
- **Inputs are never touched.** ``out`` may not equal an input, nor be a folder
  that holds one (at any depth); paths are compared with symlinks resolved. An
  output *inside* an input folder is allowed (``RUN/report`` is the report's home).
- **No work is wasted.** The parent can be written and the name fits the
  filesystem (NAME_MAX, PATH_MAX); both are checked before the command computes.
- **One writer at a time.** A lock file beside ``out`` (``.rg-<hash>.lock``,
  ``fcntl.flock``) is held until the command has written ``out``; a second
  command on the same ``out`` is refused. The OS releases it if the command dies.

How :func:`atomic_dir` writes: into a temporary sibling ``.rg-<hash>-<pid>.new``;
when the body has finished, the marker is written into it last, the old ``out``
is renamed to ``.rg-<hash>-<pid>.old``, the new folder to ``out``, and the old one
deleted. A reader never sees half a folder. If the process dies in between, the
next command on the same ``out`` (holding its lock) finishes the swap when the
new folder is complete (it has the marker) or rolls it back to the old one, and
deletes the leftovers of dead processes (also the ``.del`` folders that
:meth:`Target.make_dir` was deleting). Any later command writing in the same
parent does the same for the other folders there, each under its lock, taken
only when the lock's process (pid and host, written in it) is dead; the marker
names its folder, so that their temporaries can be told apart.

What no rename can lose:

- **A folder that cannot be renamed** (a mount point such as ``docker -v``'s,
  :data:`CANNOT_RENAME`): the finished files are moved into it, under the lock,
  the marker last; if that fails too (a full mount) the finished result is kept,
  visible, as ``<out>.kept-<pid>`` and the error says so. A complete result that
  an older raregal left beside such a folder is moved into it by the next command.
- **The user's files** inside a replaced folder (the explorer's tags,
  :data:`USER_FILES`) are carried into the new one, and the log says so.
- **A file system's refusal** of a write (a full disk, a read-only mount) is one
  line naming the file or output and the cause (:func:`write_failure`).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import math
import os
import platform
import re
import shutil
import socket
import sys
import time
import weakref
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from raregal.core.errors import InputError, first_line

#: Libraries whose versions are recorded in run.json.
RECORDED_PACKAGES = (
    "raregal",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "umap-learn",
    "pynndescent",
    "fast_hdbscan",
    "numba",
    "astropy",
    "h5py",
    "cuml",
)

#: The file that makes a folder a raregal output, and says of which command.
MARKER = ".raregal-output.json"
KINDS = ("search", "report", "evaluate", "embed", "baseline", "train", "inject", "demo", "compare")
#: Room kept in PATH_MAX for the files a command writes inside its folder.
INNER_PATH_ROOM = 64
#: Lock file -> the Target of this process that holds it.
_HELD: dict = {}
#: What this process set out to write (folders and files), the latest last: a write
#: error that names no file (a full disk met by write(2)) is blamed on the latest.
_WRITING: list = []
#: File-system refusals of a write that no retry by raregal can fix: one line each
#: (:func:`write_failure`), never a traceback.
WRITE_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.EIO,
        errno.EFBIG,
        errno.ELOOP,
        errno.ENAMETOOLONG,
        errno.EBUSY,
        errno.EXDEV,
    }
)
_TEMPORARY = re.compile(r"^\.rg-(?P<key>[0-9a-f]{10})-(?P<pid>\d+)\.(?P<state>new|old|del)$")
_LOCK = re.compile(r"^\.rg-(?P<key>[0-9a-f]{10})\.lock$")
#: The user's own files inside a raregal folder (the explorer's tags,
#: :data:`raregal.explore.tags.FILE_NAME`, and SQLite's journals of them): carried
#: into the folder that replaces it, never deleted.
USER_FILES = re.compile(r"^explore-tags\.sqlite(-wal|-shm|-journal)?$")
#: A rename of a folder that the file system refuses where it is (a mount point:
#: EBUSY; another file system: EXDEV; a sticky parent: EPERM): written in place.
CANNOT_RENAME = frozenset({errno.EBUSY, errno.EXDEV, errno.EPERM})


class Target:
    """An output folder that :func:`prepare` has checked and locked.

    ``path`` is the folder as the user named it; ``real`` the same folder with
    its parent's symlinks resolved, on which every rename happens.
    """

    def __init__(
        self, path: Path, real: Path, kind: str, overwrite: bool, lock_fd: int, lock_path: Path
    ):
        self.path, self.real, self.kind, self.overwrite = path, real, kind, overwrite
        self._lock_fd, self._lock_path = lock_fd, lock_path

    def temporary(self, state: str) -> Path:
        """``.rg-<hash>-<pid>.<state>`` beside the folder: short whatever its name."""
        return self.real.parent / f".rg-{_key(self.real)}-{os.getpid()}.{state}"

    def make_dir(self) -> Path:
        """Create the folder for a command that writes in place (and resumes).

        With ``overwrite`` an existing folder (checked to be of this kind) is
        replaced by an empty one; otherwise it is kept as it is, for the command
        to continue in.
        """
        if self.overwrite and self.real.exists():
            doomed = self.temporary("del")  # never restored: it may be half deleted
            try:
                _rename(self.real, doomed)
            except OSError as exc:
                if exc.errno not in CANNOT_RENAME:
                    raise
                _empty(self.real)  # in place; the user's files stay where they are
            else:
                self.real.mkdir()
                _tell_carried(self, _carry(doomed, self.real))
                shutil.rmtree(doomed)
        self.real.mkdir(exist_ok=True)
        if not (self.real / MARKER).is_file():
            _write_marker(self.real, self.kind, self.real.name)
        return self.path

    def release(self) -> None:
        """Let another command write this folder (idempotent)."""
        if self._lock_fd is None:
            return
        _HELD.pop(self._lock_path, None)
        fd, self._lock_fd = self._lock_fd, None
        _drop_lock(fd, self._lock_path)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __del__(self):  # a command that failed between prepare and writing
        try:
            self.release()
        except Exception:  # noqa: BLE001 - at interpreter exit the OS releases it anyway
            pass


def prepare(
    out, *, kind: str, inputs=(), overwrite: bool = False, in_place: bool = False
) -> Target:
    """Check that ``out`` may be written by a ``kind`` command, and lock it.

    Call it before any computation; pass the result to :func:`atomic_dir`, or
    call :meth:`Target.make_dir`. The lock is held until then (or until
    :meth:`Target.release`, or the process ends).

    Parameters
    ----------
    out : path-like
        The folder the command writes.
    kind : str
        The command (one of :data:`KINDS`), recorded in the marker.
    inputs : sequence of path-like or None
        Everything the command reads; ``out`` may not be, or hold, any of them.
    overwrite : bool
        Replace an existing output of the same kind.
    in_place : bool
        For commands that resume in their own folder (embed, train, demo): an
        existing output of the same kind is accepted without ``overwrite``; the
        command decides what to do with it.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}")
    path = Path(out)
    _check_name(path, Path(os.path.abspath(path)))  # first: a stat of it could fail
    if path.is_symlink():
        raise InputError(f"{path}: is a symbolic link; give the folder it points to as --out")
    real = _resolve(path)
    if real.parent == real:
        raise InputError(f"{path}: cannot write over the file system's root")
    _check_name(path, real)
    _check_inputs(path, real, inputs)
    created = _make_parents(path, real.parent)
    try:
        lock_fd, lock_path = _lock(path, real)
    except BaseException:
        for folder in created:  # nothing half-written: not even an empty folder
            folder.rmdir()
        raise
    target = Target(path, real, kind, overwrite, lock_fd, lock_path)
    _HELD[lock_path] = weakref.ref(target)
    _WRITING.append((real, path))
    try:
        _recover(target)
        _check_existing(target, in_place)
    except BaseException:
        target.release()
        raise
    return target


@contextmanager
def atomic_dir(target: Target):
    """Yield an empty temporary folder; once the body is done it becomes ``target``.

    On an error the temporary folder goes and ``target`` is left as it was.
    The user's files in the folder it replaces (:data:`USER_FILES`) are carried
    into it. Where the folder cannot be renamed (a mount point, :data:`CANNOT_RENAME`)
    the new files are moved into it instead. The lock is released either way.
    """
    tmp = target.temporary("new")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            yield tmp
            _check_existing(target, in_place=False)  # nobody made it meanwhile
            carried = _carry(target.real, tmp)
            _write_marker(tmp, target.kind, target.real.name)  # last: marks it complete
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _swap(tmp, target)
        _tell_carried(target, carried)
    finally:
        target.release()


def write_failure(exc: OSError) -> str | None:
    """The one line for a file system's refusal of a write (:data:`WRITE_ERRNOS`):
    the file, or the output being written, and the cause; None for any other error."""
    exc = _system_error(exc)
    if exc.errno not in WRITE_ERRNOS:
        return None
    cause = os.strerror(exc.errno)
    if exc.filename is not None:
        return f"{_as_given(Path(os.fsdecode(exc.filename)))}: {cause}"
    if not _WRITING:
        return cause
    return f"{cause[0].lower()}{cause[1:]} writing {_WRITING[-1][1]}"


def _system_error(exc: OSError) -> OSError:
    """The first error in ``exc``'s chain that carries the system's errno: a library
    may re-raise it as an OSError of its own without one (astropy's FITS writer: "Not
    enough space on disk: requested …")."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _as_given(file: Path) -> Path:
    """A file inside a temporary folder, as it would be named in the output."""
    for real, path in reversed(_WRITING):
        for up in file.parents:
            match = _TEMPORARY.match(up.name)
            if real and match and match["key"] == _key(real) and up.parent == real.parent:
                return path / file.relative_to(up)
    return file


def read_marker(folder) -> dict | None:
    """The marker of a raregal output folder, or None."""
    try:
        record = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("kind") in KINDS else None


# --- the checks -------------------------------------------------------------------


def _check_inputs(path: Path, real: Path, inputs) -> None:
    for given in inputs:
        if given is None:
            continue
        source = _resolve(Path(given))
        if source == real:
            raise InputError(
                f"{path}: is the command's input {given}; raregal never "
                f"writes over its inputs: choose another --out"
            )
        if real in source.parents:
            raise InputError(
                f"{path}: holds the command's input {given}; raregal never "
                f"writes over its inputs: choose another --out"
            )


def _resolve(path: Path) -> Path:
    """``path`` with its symlinks resolved; a loop among them is one line."""
    try:
        return path.resolve()
    except (RuntimeError, OSError) as exc:  # RuntimeError before Python 3.13, then ELOOP
        raise InputError(
            f"{path}: lies inside a loop of symbolic links ({first_line(exc)}); choose another path"
        ) from None


def _check_name(path: Path, real: Path) -> None:
    existing = next(p for p in (real, *real.parents) if os.path.exists(p))
    name_max = _pathconf(existing, "PC_NAME_MAX", 255)
    path_max = _pathconf(existing, "PC_PATH_MAX", 4096)
    name = len(os.fsencode(real.name))
    if name > name_max:
        raise InputError(
            f"{path}: the name is {name} bytes, longer than this file "
            f"system's limit of {name_max}; choose a shorter --out"
        )
    length = len(os.fsencode(str(real))) + INNER_PATH_ROOM
    if length > path_max:
        raise InputError(
            f"{path}: the path is too long for this file system (limit "
            f"{path_max} bytes, with {INNER_PATH_ROOM} kept for the files "
            f"inside); choose a shorter --out"
        )


def _pathconf(path: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(path, name)
    except (OSError, ValueError):
        return default


def _make_parents(path: Path, parent: Path) -> list[Path]:
    """Create the missing folders above ``out``; return them, deepest first."""
    missing = []
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise InputError(f"{path}: {folder} is a file, not a folder")
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except OSError as exc:
            for made in missing[missing.index(folder) + 1 :]:
                made.rmdir()
            raise InputError(
                f"{path}: cannot create {folder} ({exc.strerror}); choose another --out"
            ) from None
    return missing


def _lock(path: Path, real: Path) -> tuple[int, Path]:
    """Take the lock file of ``real`` (``.rg-<hash>.lock`` in its parent).

    A lock that this process still holds is taken over: it belongs to a command
    that failed and whose traceback is still referenced (a notebook, a test),
    since raregal never runs two writers of one folder in one process.
    """
    lock_path = real.parent / f".rg-{_key(real)}.lock"
    stale = _HELD.get(lock_path)
    if stale is not None and stale() is not None:
        stale().release()
    try:
        fd = _try_lock(lock_path)
    except OSError as exc:
        raise InputError(
            f"{path}: cannot write in {real.parent} ({exc.strerror}); choose another --out"
        ) from None
    if fd is None:
        holder = _holder(lock_path)[0] or "?"
        raise InputError(
            f"{path}: another raregal command (pid {holder}) is writing "
            f"it; wait for it to finish or choose another --out"
        )
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
    return fd, lock_path


def _try_lock(lock_path: Path) -> int | None:
    """The lock file taken (its descriptor), or None while another process holds it."""
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                return None
            raise
        try:  # the holder before us may have unlinked the file we opened
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _holder(lock_path: Path) -> tuple[str, str]:
    """The pid and host a lock file names (those of its last holder)."""
    try:
        words = lock_path.read_text(errors="replace").split()
    except OSError:
        words = []
    return (words + ["", ""])[0], (words + ["", ""])[1] or socket.gethostname()


def _drop_lock(fd: int, lock_path: Path) -> None:
    try:  # unlinked while still held: a waiter re-checks the inode (see _try_lock)
        lock_path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _check_existing(target: Target, in_place: bool) -> None:
    path, real, kind = target.path, target.real, target.kind
    if not os.path.lexists(real):
        return
    if not real.is_dir() or real.is_symlink():
        raise InputError(
            f"{path}: exists and is not a folder; raregal never replaces it: choose another --out"
        )
    marker = read_marker(real)
    if marker is None:
        entries = sorted(p.name for p in real.iterdir())
        if not entries:
            return  # an empty folder: nothing to lose
        raise InputError(
            f"{path}: exists and is not a raregal output ({len(entries)} "
            f"entries, e.g. {entries[0]}); raregal never replaces such a "
            f"folder, even with --overwrite: choose a new --out or move it away"
        )
    if marker["kind"] != kind:
        raise InputError(
            f"{path}: holds a raregal {marker['kind']} output, not a {kind} "
            f"output; choose another --out"
        )
    if not (target.overwrite or in_place):
        raise InputError(
            f"{path}: already exists (a raregal {kind} output); add "
            f"--overwrite to replace it, or choose another --out"
        )


# --- the swap and its recovery ----------------------------------------------------


def _rename(source: Path, destination: Path) -> None:
    """One step of a swap (one place, so that tests can interrupt it)."""
    os.rename(source, destination)


def _swap(tmp: Path, target: Target) -> None:
    """Put the complete folder ``tmp`` in the target's place, the old one aside, then
    deleted; where the target cannot be renamed, move the files into it instead."""
    if not os.path.lexists(target.real):
        _rename(tmp, target.real)
        return
    old = target.temporary("old")
    try:
        _rename(target.real, old)
    except OSError as exc:
        if exc.errno not in CANNOT_RENAME:
            raise
        _fill_in_place(tmp, target)
        return
    _rename(tmp, target.real)
    shutil.rmtree(old, ignore_errors=True)


def _put(tmp: Path, real: Path) -> None:
    """Rename the complete folder ``tmp`` to ``real``, absent or an empty folder, or
    move its files into ``real`` where that cannot be renamed onto (a mount point)."""
    try:
        _rename(tmp, real)
    except OSError as exc:
        if exc.errno not in CANNOT_RENAME:
            raise
        _move_into(tmp, real)
        shutil.rmtree(tmp)


def _fill_in_place(tmp: Path, target: Target) -> None:
    """Replace the target's files by ``tmp``'s, in the target itself, under its lock.

    The target keeps a marker throughout (the new one replaces the old last), so
    that an interruption leaves a folder that ``--overwrite`` replaces. If the
    files cannot be moved (a full mount), the finished result is kept beside it.
    """
    try:
        _empty(target.real)
        _move_into(tmp, target.real)
    except OSError as exc:
        kept = target.real.parent / f"{target.real.name}.kept-{os.getpid()}"
        try:
            _rename(tmp, kept)
        except OSError:
            kept = tmp
        raise InputError(
            f"{target.path}: cannot be renamed (a mount point?) and writing "
            f"into it failed ({exc.strerror}); the finished result is kept "
            f"in {kept}"
        ) from None
    shutil.rmtree(tmp)


def _empty(folder: Path) -> None:
    """Delete the files of a raregal folder in place, but for the user's files
    (:data:`USER_FILES`) and the markers of the folders that hold them."""
    for root, dirs, files in os.walk(folder, topdown=False):
        here = Path(root)
        for name in files:
            if not (USER_FILES.match(name) or name == MARKER):
                (here / name).unlink()
        for name in dirs:
            if (here / name).is_symlink():
                (here / name).unlink()
        if here != folder and [p.name for p in here.iterdir()] in ([], [MARKER]):
            shutil.rmtree(here)


def _move_into(source: Path, folder: Path) -> None:
    """Move ``source``'s files into ``folder`` (copied across file systems), its
    marker last; the user's files already in ``folder`` are kept."""
    for root, _, files in os.walk(source):
        here = Path(root)
        inside = folder / here.relative_to(source)
        inside.mkdir(exist_ok=True)
        for name in files:
            keep = USER_FILES.match(name) and (inside / name).exists()
            if not keep and not (here == source and name == MARKER):
                shutil.move(here / name, inside / name)
    fresh = folder / f".{MARKER}.tmp"
    shutil.copyfile(source / MARKER, fresh)
    os.replace(fresh, folder / MARKER)


def _carry(old: Path, new: Path) -> list[Path]:
    """Copy the user's files (:data:`USER_FILES`) of the folder ``old`` into ``new``
    at the same place, with the markers of the folders that hold them (so that a
    folder holding only tags is still raregal's); return them."""
    carried = []
    for root, _, files in os.walk(old):  # nothing when ``old`` is not a folder
        for name in sorted(files):
            relative = (Path(root) / name).relative_to(old)
            if not USER_FILES.match(name) or os.path.lexists(new / relative):
                continue
            for up in reversed(relative.parents):  # ``new`` itself first
                (new / up).mkdir(exist_ok=True)
                if (old / up / MARKER).is_file() and not (new / up / MARKER).exists():
                    shutil.copyfile(old / up / MARKER, new / up / MARKER)
            shutil.copy2(old / relative, new / relative)
            carried.append(relative)
    return carried


def _tell_carried(target: Target, carried: list[Path]) -> None:
    """Say which of the user's files an overwrite kept, so that nobody wonders."""
    files = [str(p) for p in carried if not re.search(r"-(wal|shm|journal)$", p.name)]
    if files:
        _notice(
            f"{target.path}: kept your explorer tags ({', '.join(files)}) from the "
            f"folder it replaces (tags on classes name the old run's class numbers)"
        )


def _recover(target: Target) -> None:
    """Finish or roll back swaps that dead processes left, and delete their leftovers:
    the target's (under its lock), then those of other folders in the same parent."""
    _recover_folder(target.real, target.path)
    _recover_parent(target.real.parent, _key(target.real))


def _recover_parent(parent: Path, own: str | None = None) -> None:
    """The leftovers of dead processes for the folders of ``parent`` (but ``own``, the
    key of the folder being written), each under its own lock, taken only when no
    process holds it: any raregal command writing in ``parent`` cleans them."""
    keys = {match["key"] for match in map(_leftover, parent.iterdir()) if match}
    for key in sorted(keys - {own}):
        lock_path = parent / f".rg-{key}.lock"
        pid, host = _holder(lock_path)
        if host != socket.gethostname() or (pid.isdigit() and _alive(int(pid))):
            continue  # a lock we cannot judge, or one a live process may still hold
        try:
            fd = _try_lock(lock_path)
        except OSError:
            continue
        if fd is None:
            continue
        try:
            real = _folder_of(parent, key)
            if real is not None:
                _recover_folder(real, real)
            else:  # whose folder is unknown: only what nobody can use goes
                for entry in _dead_temporaries(parent, key)["new"]:
                    if read_marker(entry) is None:
                        shutil.rmtree(entry, ignore_errors=True)
        finally:
            _drop_lock(fd, lock_path)


def _leftover(entry: Path):
    return _TEMPORARY.match(entry.name) or _LOCK.match(entry.name)


def _dead_temporaries(parent: Path, key: str) -> dict[str, list[Path]]:
    """The temporaries of folder ``key`` in ``parent`` whose process is dead, by state;
    one whose process is alive is left alone, in case the file system does not
    honour locks (some network ones)."""
    left = {"new": [], "old": [], "del": []}
    for entry in parent.iterdir():
        match = _TEMPORARY.match(entry.name)
        if match and match["key"] == key and not _alive(int(match["pid"])):
            left[match["state"]].append(entry)
    return left


def _folder_of(parent: Path, key: str) -> Path | None:
    """The folder whose temporaries these are, as their markers name it, or the
    folder of the parent whose name has their key (markers of older raregals name
    none)."""
    for entries in _dead_temporaries(parent, key).values():
        for entry in entries:
            name = (read_marker(entry) or {}).get("name")
            if isinstance(name, str) and _key(parent / name) == key:
                return parent / name
    return next(
        (
            entry
            for entry in parent.iterdir()
            if not entry.name.startswith(".rg-") and _key(entry) == key
        ),
        None,
    )


def _recover_folder(real: Path, shown: Path) -> None:
    """The recovery of one folder, whose lock this process holds."""
    left = _dead_temporaries(real.parent, _key(real))
    if not any(left.values()):
        return
    by_age = lambda p: p.lstat().st_mtime  # noqa: E731
    complete = sorted((p for p in left["new"] if read_marker(p) is not None), key=by_age)
    vacant = not os.path.lexists(real) or (
        real.is_dir() and not real.is_symlink() and not any(real.iterdir())
    )
    if vacant and complete:  # an empty folder too: a mount point that refused the rename
        _put(complete[-1], real)
        _notice(
            f"{shown}: finished the replacement that an interrupted raregal command left half done"
        )
    elif not os.path.lexists(real) and left["old"]:
        _rename(sorted(left["old"], key=by_age)[-1], real)
        _notice(f"{shown}: restored the folder that an interrupted raregal command was replacing")
    if real.is_dir() and (read_marker(real) or not any(real.iterdir())):  # not a user's
        for leftover in left["old"] + left["del"]:  # the user's files they still hold
            _carry(leftover, real)
    for leftover in left["new"] + left["old"] + left["del"]:
        if os.path.lexists(leftover):
            shutil.rmtree(leftover, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _notice(message: str) -> None:
    print(f"raregal: {message}", file=sys.stderr)


def _key(real: Path) -> str:
    return hashlib.sha256(os.fsencode(real.name)).hexdigest()[:10]


def _write_marker(folder: Path, kind: str, name: str) -> None:
    """The marker; ``name``, the folder's own, lets a later command in the parent
    tell which folder an interrupted command's temporaries belong to."""
    write_json(
        folder / MARKER,
        {
            "kind": kind,
            "name": name,
            "raregal": _version(),
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )


def _version() -> str:
    try:
        return metadata.version("raregal")
    except metadata.PackageNotFoundError:
        return "0+unknown"


# --- files ------------------------------------------------------------------------


def write_table(table, path) -> None:
    """Write a pandas table to a new Parquet or CSV file, by suffix.

    The table is written to a temporary file and hard-linked into place, which
    fails if ``path`` appeared meanwhile: an existing file is never replaced,
    because this command did not create it.
    """
    path = Path(path)
    if path.suffix.lower() not in {".parquet", ".csv"}:
        raise InputError(f"{path}: write .parquet or .csv")
    _resolve(path)
    _WRITING.append((None, path))
    if path.exists():
        raise InputError(
            f"{path}: exists; choose another name (raregal never replaces a file it did not create)"
        )
    _recover_parent(path.parent)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        if path.suffix.lower() == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_csv(tmp, index=False)
        os.link(tmp, path)
    except FileExistsError:
        raise InputError(f"{path}: appeared while writing; left alone") from None
    finally:
        tmp.unlink(missing_ok=True)


def sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_json(path: Path, payload: dict) -> None:
    """Strict JSON (no NaN or Infinity, which other readers reject): those become null."""
    text = json.dumps(plain(payload), indent=2, allow_nan=False)
    Path(path).write_text(text + "\n")


def plain(value):
    """``value`` as JSON's types: numpy scalars and arrays as numbers and lists, paths
    as strings, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy
        return plain(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
