"""The output folder of make-data: a hidden building folder beside the destination, its
arrays' disk space reserved up front, examples.csv, and the rename that replaces the old
dataset folder whole.

A dataset is written into ``.<name>.building-<pid>-<thread>`` and swapped in by renames only
when every file is there, so a crash, a cancel or a full disk never leaves half a dataset,
and an old dataset stays loadable until the new one replaces it.
"""
from __future__ import annotations

import csv
import errno
import os
import shutil
import threading
from pathlib import Path

import numpy as np

from ..errors import DatasetError, os_error_line
from .dataset import META_FILE, expected_shapes
from ..audio.features import FEATURE_KIND_LOG

KEEP_FILES = ("README.md",)  # files of an old dataset folder carried into the new one
DATASET_FILES = {"X.npy", "Y.npy", "X_dev.npy", "Y_dev.npy", "examples.csv", META_FILE,
                 *KEEP_FILES}  # what a dataset folder may hold without a meta.json
EXAMPLES_COLUMNS = ["split", "index", "n_triggers", "trigger_end_s", "n_other", "background",
                    "snr_db", "trigger_families"]  # the header of examples.csv


def check_replaceable(out: Path) -> None:
    """Refuse an output folder that is not ours to replace.

    make-data replaces its output folder whole, so ``--out .`` or ``--out ~`` must never
    reach the rename.

    Args:
        out: the destination folder.

    Raises:
        DatasetError: unless ``out`` is missing, empty or a dataset folder (one line).
    """
    if not out.exists():
        return
    if not out.is_dir():
        raise DatasetError(f"{out} is a file, not a dataset folder; choose another output folder")
    names = {p.name for p in out.iterdir()}
    if (out / META_FILE).is_file() or names <= DATASET_FILES:
        return
    raise DatasetError(f"{out} is not a dataset folder (it has no {META_FILE} and holds other "
                       "files); make-data replaces its output folder whole, so choose a new or "
                       "dataset folder")


def building_folder(out: Path) -> Path:
    """A fresh, empty hidden folder beside ``out`` to build the dataset in.

    Args:
        out: the destination folder (resolved); its parent is created if missing.

    Returns:
        ``out.parent / .<name>.building-<pid>-<thread id>``, emptied if a crashed run left it.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.building-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def allocate_arrays(tmp: Path, n_train: int, n_dev: int, kind: str = FEATURE_KIND_LOG) -> None:
    """Create the memory-mapped float16 output arrays in ``kind``'s shapes, disk space reserved.

    Writing a memory map on a full disk kills the process with SIGBUS, while a reservation
    fails here with one line.

    Args:
        tmp: the building folder; X.npy, Y.npy, X_dev.npy and Y_dev.npy are created in it.
        n_train: training examples (rows of X.npy and Y.npy).
        n_dev: dev examples (rows of X_dev.npy and Y_dev.npy).
        kind: the feature kind whose shapes X and Y take.

    Raises:
        DatasetError: the disk has too little free space for the arrays (one line).
    """
    x_shape, y_shape = expected_shapes(kind)
    shapes = [(f"{name}{suffix}.npy", (n, *shape)) for suffix, n in (("", n_train), ("_dev", n_dev))
              for name, shape in (("X", x_shape), ("Y", y_shape))]
    need = sum(int(np.prod(shape)) * 2 for _, shape in shapes)
    free = shutil.disk_usage(tmp).free
    if need > free:
        raise DatasetError(f"not enough disk space for the dataset: it needs {_size(need)} and "
                           f"{tmp.parent} has {_size(free)} free")
    for name, shape in shapes:
        arr = np.lib.format.open_memmap(tmp / name, mode="w+", dtype=np.float16, shape=shape)
        del arr
        reserve_blocks(tmp / name)


def _size(n_bytes: int) -> str:
    """A byte count as "1.23 GB" or "45.6 MB"."""
    return f"{n_bytes / 1e9:.2f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.1f} MB"


def reserve_blocks(path: Path) -> None:
    """Reserve a file's disk blocks (posix_fallocate) over its whole current size.

    Args:
        path: an existing file inside the building folder.

    Raises:
        DatasetError: the disk is full (one line). A filesystem without reservations leaves
            the sparse file as it was.
    """
    with open(path, "r+b") as fh:
        try:
            os.posix_fallocate(fh.fileno(), 0, os.fstat(fh.fileno()).st_size)
        except OSError as err:
            if err.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                return  # a filesystem without reservations: the sparse file stays as it was
            raise DatasetError(f"not enough disk space for the dataset in {path.parent.parent}: "
                               f"{os_error_line(err)}") from None


def write_examples_csv(path: Path, rows: list[list[str]]) -> None:
    """Write examples.csv: the header (``EXAMPLES_COLUMNS``), then one row an example.

    Args:
        path: the file to write (inside the building folder, so never seen half-written).
        rows: one list of strings an example, in the header's order.
    """
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(EXAMPLES_COLUMNS)
        writer.writerows(rows)


def swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp`` with renames; a few kept files (README.md) move across.

    Args:
        tmp: the finished building folder (renamed to ``out``).
        out: the destination; an old dataset there is renamed aside, then removed.

    Raises:
        DatasetError: ``out`` is not a dataset folder (see :func:`check_replaceable`).
    """
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    check_replaceable(out)
    if out.exists():
        for name in KEEP_FILES:
            if (out / name).is_file() and not (tmp / name).exists():
                shutil.copy2(out / name, tmp / name)
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
