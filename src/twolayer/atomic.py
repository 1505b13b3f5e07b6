"""Files appear under their final name only when complete.

Everything the package writes goes through :func:`atomic_path`: the content
is written to a hidden temporary name in the destination's directory and
renamed (atomically, on POSIX) only after the writer finished without an
exception. A crash, a ``kill -9`` or a failed check leaves at most a
``.<name>.tmp-<pid>`` file, which no reader mistakes for a result and
:func:`remove_stale_temporaries` clears on the next write.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

TMP_MARK = ".tmp-"


def temporary_name(dest):
    dest = Path(dest)
    return dest.with_name(f".{dest.name}{TMP_MARK}{os.getpid()}")


def remove_stale_temporaries(dest):
    """Delete leftovers of earlier interrupted writes of ``dest`` (never ``dest`` itself)."""
    dest = Path(dest)
    if not dest.parent.is_dir():
        return
    prefix = f".{dest.name}{TMP_MARK}"
    for p in dest.parent.iterdir():
        if p.name.startswith(prefix):
            with contextlib.suppress(OSError):
                p.unlink()


@contextlib.contextmanager
def atomic_path(dest, fsync=True):
    """Yield a temporary path to write; on success rename it to ``dest``.

    On any exception the temporary file is removed and ``dest`` is left as it
    was (absent, or its previous complete version).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dest)
    tmp = temporary_name(dest)
    try:
        yield tmp
        if fsync and tmp.exists():
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text(dest, text):
    with atomic_path(dest) as tmp:
        Path(tmp).write_text(text)


def write_json(dest, obj):
    write_text(dest, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")
