"""The output folder of a build: checked before anything is read, locked while a build writes
it, built in a scratch folder beside it and swapped in at the end.

What the checks promise:

- Only a folder this project wrote is replaced: an existing, non-empty ``--output-dir`` must hold
  a build of ours (its ``manifest.json`` says so and nothing else sits beside the files a build
  writes), unless the user passes ``--overwrite``. The current folder, one of its parents, the
  home folder and ``/`` are never replaced.
- An output that is a file, a link, or has a file among its parents; an output inside the input
  or an input inside the output; a ``--dump-dropped`` path inside the output (the swap would
  delete it), that is a folder, or that cannot be written: each is an error before any input is
  read.
- One build at a time per output: a lock file beside it (``.NAME.lock``, removed at the end).
- A build killed on the spot (``kill -9``) leaves its scratch folder (``.NAME.tmp-*``, marked
  with the pid that made it); the next build of the same output removes it. Nothing without our
  marker or manifest is ever removed. The same holds for a spill folder made under
  ``--scratch-dir`` (``.NAME.spill-*``).
- The swap exchanges the two folders in one ``renameat2(RENAME_EXCHANGE)`` call where the
  system has it (Linux), so there is no moment without an output; elsewhere, two renames.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import glob
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from .integrity import PUBLISHED

MARKER = ".zephyr-scratch.json"
# What a build writes, and the record of its pushes that publishing adds.
BUILD_ENTRIES = frozenset({"data", "README.md", "manifest.json", "report", "truecased.jsonl",
                           PUBLISHED})


class OutputError(ConfigError):
    """An ``--output-dir`` or ``--dump-dropped`` that a build must not write."""


# ------------------------------------------------------------------ checks


def is_build(folder: Path) -> tuple[bool, str]:
    """Whether ``folder`` holds a build of this project, and if not, why not."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return False, "it has no manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False, "its manifest.json is not one a build writes (not valid JSON)"
    if not (isinstance(data, dict) and data.get("pipeline") and "fingerprint" in data
            and "zephyr-data" in (data.get("versions") or {})):
        return False, "its manifest.json is not one a build writes"
    entries = BUILD_ENTRIES | set(data.get("configs") or ())  # a derived config's folder
    others = sorted(p.name for p in folder.iterdir() if p.name not in entries)
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        return False, f"it holds files a build does not write ({shown})"
    return True, ""


def _input_paths(spec: str) -> tuple[list[Path], Path | None]:
    """The local files an ``--input`` names (listed, not read), and the folder a build would
    search recursively (a folder input, or a ``**`` glob's fixed leading folder), if any."""
    if os.path.lexists(spec):
        path = Path(spec).resolve()
        return ([path], path) if path.is_dir() else ([path], None)
    if glob.has_magic(spec):
        files = [Path(p).resolve() for p in glob.glob(spec, recursive=True)]
        root = None
        if "**" in spec:
            fixed = []
            for part in Path(spec).parts:
                if glob.has_magic(part):
                    break
                fixed.append(part)
            root = Path(*fixed).resolve() if fixed else Path.cwd().resolve()
        return files, root
    return [], None  # a Hub id, or a path that does not exist (the reader says so)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output(output_dir: str, *, input_spec: str | None, dump_dropped: str | None,
                 overwrite: bool, scratch_dir: str | None = None) -> Path:
    """Check that a build may write ``output_dir`` (and ``dump_dropped``); return its path."""
    given = Path(output_dir).expanduser()
    if given.is_symlink():
        raise OutputError(f"--output-dir {output_dir} is a symbolic link (to "
                          f"{os.readlink(given)}). A build replaces the folder it writes, which "
                          "would replace the link: pass the folder it points to instead.")
    dest = given.resolve()
    for parent in dest.parents:
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"--output-dir {output_dir}: {parent} is a file, so no folder can "
                              "be made inside it. Choose another --output-dir.")
    if dest.exists() and not dest.is_dir():
        raise OutputError(f"--output-dir {output_dir} is an existing file, not a folder. A build "
                          "writes a folder there and will not replace a file: move the file or "
                          "choose another --output-dir.")
    cwd = Path.cwd().resolve()
    what = ("the file system root" if dest == Path(dest.anchor) else
            "the home folder" if dest == Path.home().resolve() else
            "the current folder" if dest == cwd else
            "a parent of the current folder" if _inside(cwd, dest) else None)
    if what:
        raise OutputError(f"--output-dir {output_dir} is {what} ({dest}): a build never "
                          "replaces it, even with --overwrite. Name a folder of its own, e.g. "
                          f"{output_dir.rstrip('/') or '.'}/out.")
    if input_spec:
        files, root = _input_paths(input_spec)
        inside = next((f for f in files if _inside(f, dest)), None)
        if inside is not None or (root is not None and _inside(dest, root)):
            where = (f"holds {inside}, inside the output folder {dest}: replacing the output "
                     "would delete it" if inside is not None else
                     f"is searched recursively from {root}, around the output folder {dest}: "
                     "the next build would read its own output")
            raise OutputError(f"--input {input_spec} {where}. Keep the two apart.")
    if dest.is_dir() and any(dest.iterdir()):
        ours, why = is_build(dest)
        if not ours and not overwrite:
            raise OutputError(f"--output-dir {output_dir} is a folder this project did not "
                              f"write: {why}. A build replaces its output folder whole, so it "
                              "only replaces an earlier build. Choose a new or empty folder, or "
                              "pass --overwrite to replace this one and everything in it.")
    if dump_dropped:
        _check_dump(dump_dropped, dest)
    if scratch_dir and _inside(Path(scratch_dir).expanduser().resolve(), dest):
        raise OutputError(f"--scratch-dir {scratch_dir} is inside --output-dir {dest}, which "
                          "the build replaces whole. Put it beside the output, or anywhere "
                          "else every node sees.")
    return dest


def _check_dump(path: str, dest: Path) -> None:
    dump = Path(path).expanduser().resolve()
    if _inside(dump, dest):
        raise OutputError(f"--dump-dropped {path} is inside --output-dir {dest}, which the "
                          "build replaces whole at the end, so the dump would be deleted. "
                          "Write it beside the output instead, e.g. "
                          f"{dest.parent / (dest.name + '_dropped.jsonl')}.")
    if dump.is_dir():
        raise OutputError(f"--dump-dropped {path} is a folder; it must name a JSON Lines file, "
                          f"e.g. {dump / 'dropped.jsonl'}.")
    parent = dump.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{dump.name}.probe-"):
            pass
    except OSError as err:
        raise OutputError(f"--dump-dropped {path} cannot be written ({describe_os_error(err)}). "
                          "Choose a path in a writable folder.") from None


def describe_os_error(err: OSError) -> str:
    """One line for an error of the environment: what failed, on which path, and why."""
    where = f" {err.filename}" if err.filename else ""
    reason = err.strerror or str(err)
    hints = {errno.ENOSPC: "free some space or write elsewhere",
             errno.EROFS: "the file system is read-only: write elsewhere",
             errno.EACCES: "check the permissions",
             errno.ENOTDIR: "a part of the path is a file, not a folder",
             errno.EDQUOT: "the disk quota is exceeded"}
    hint = hints.get(err.errno or 0)
    return f"{reason}{':' if where else ''}{where}" + (f" ({hint})" if hint else "")


# ------------------------------------------------------------------ the lock


@contextlib.contextmanager
def output_lock(dest: Path) -> Iterator[None]:
    """Hold ``.NAME.lock`` beside ``dest`` for the block; another holder is an error."""
    path = dest.parent / f".{dest.name}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "?"
            os.close(fd)
            raise OutputError(f"another build is writing --output-dir {dest} (its lock "
                              f"{path} is held by {holder}). Wait for it to finish, or choose "
                              "another --output-dir.") from None
        try:  # the file we locked may have been removed by the holder we waited for: retry
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


# ------------------------------------------------------------------ scratch and swap


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(folder: Path) -> bool:
    """A scratch folder of a dead build on this host, or a whole earlier build left mid-swap."""
    marker = folder / MARKER
    if marker.is_file():
        try:
            owner: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return owner.get("host") == socket.gethostname() and not _pid_alive(int(owner["pid"]))
    return is_build(folder)[0]


def remove_stale_scratch(dest: Path) -> list[Path]:
    """Remove what dead builds of ``dest`` left beside it; return what was removed."""
    removed = []
    for pattern in (f".{dest.name}.tmp-*", f".{dest.name}.old-*"):
        for folder in sorted(dest.parent.glob(pattern)):
            if folder.is_dir() and not folder.is_symlink() and _stale(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def make_scratch(dest: Path) -> Path:
    """An empty folder beside ``dest``, with the umask's permissions and our marker."""
    return _marked_folder(dest.parent, f".{dest.name}.tmp-")


def _marked_folder(parent: Path, prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(folder, 0o777 & ~_umask())
    (folder / MARKER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                             "created": time.time()}), encoding="utf-8")
    return folder


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def swap_into_place(scratch: Path, dest: Path) -> None:
    """Make the finished ``scratch`` folder ``dest``; remove what ``dest`` held before."""
    (scratch / MARKER).unlink()
    if dest.exists():
        if _exchange(scratch, dest):
            shutil.rmtree(scratch, ignore_errors=True)  # now the previous build
            return
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        dest.rename(old)
        scratch.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        scratch.rename(dest)


@contextlib.contextmanager
def building(output_dir: str, *, input_spec: str | None, dump_dropped: str | None,
             overwrite: bool, scratch_dir: str | None = None) -> Iterator[Path]:
    """Check and lock the output, yield a scratch folder; on success it becomes the output.

    On any error or interrupt the scratch folder is removed and the output is left as it was.
    """
    dest = check_output(output_dir, input_spec=input_spec, dump_dropped=dump_dropped,
                        overwrite=overwrite, scratch_dir=scratch_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(dest):
        remove_stale_scratch(dest)
        scratch = make_scratch(dest)
        try:
            yield scratch
            swap_into_place(scratch, dest)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise


@contextlib.contextmanager
def spill_folder(folder: Path, dest_name: str, scratch_dir: str | None) -> Iterator[Path]:
    """The folder the stages spill rows to, removed at the end whatever the ending: inside the
    build's ``folder``, or a folder of this run's own under ``scratch_dir`` (marked with our
    pid, so that if this run is killed on the spot the next build of ``dest_name`` removes it).
    """
    if scratch_dir is None:
        spill = folder / ".scratch"
        spill.mkdir()
    else:
        root = Path(scratch_dir).expanduser().resolve()
        root.mkdir(parents=True, exist_ok=True)
        for stale in sorted(root.glob(f".{dest_name}.spill-*")):
            if stale.is_dir() and not stale.is_symlink() and (stale / MARKER).is_file() \
                    and _stale(stale):
                shutil.rmtree(stale, ignore_errors=True)
        spill = _marked_folder(root, f".{dest_name}.spill-")
    try:
        yield spill
    finally:
        shutil.rmtree(spill, ignore_errors=True)
