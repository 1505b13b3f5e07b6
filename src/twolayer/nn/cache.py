"""Where the compiled loop's code is kept, and the check that only you can write it.

A per-user cache, never inside the installed package: ``$NUMBA_CACHE_DIR/twolayer`` if
that variable is set, else ``$XDG_CACHE_HOME/twolayer`` (``~/.cache/twolayer``). It is
created with mode 0700, and :func:`trusted_cache_dir` refuses it (a
:class:`UntrustedCacheError` naming it and the fix) unless it is a directory owned by you
that neither group nor others can write; :func:`check_private` holds every file read
from it to the same (:func:`os.stat` follows a symlink: a symlinked cache directory or file
is judged by its target, which must pass the same checks). :mod:`twolayer.nn.native` keeps
its objects there, written with mode 0600 whatever the umask, and Numba's own cache goes
to its ``numba`` sub-directory (:func:`use_checked_numba_cache`).

The loop is made of the files :data:`LOOP_SOURCES` (the loop, and the activations' formulas
it compiles); :func:`loop_sources_digest` names their version, so that an edit of either
compiles a new loop (Numba's own check of its cache reads only the loop's file).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from ..errors import UserError

#: the files (in this package) whose code the compiled loop is made of
LOOP_SOURCES = ("batch1_loop.py", "activations.py")
_HERE = Path(__file__).resolve().parent


class UntrustedCacheError(UserError):
    """The compiled loop's cache directory (or a file in it) could be written by someone else."""


def cache_dir():
    """Where the objects live (see the module's docstring); :func:`trusted_cache_dir` checks it."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "twolayer"


def _fix(path, is_dir=True):
    mend = f"run `chmod 700 '{path}'` if it is yours, or delete it" if is_dir else f"delete '{path}'"
    return f"{mend} (it is rebuilt), or set NUMBA_CACHE_DIR to a directory only you can write"


def check_private(path, is_dir):
    """Raise :class:`UntrustedCacheError` unless ``path`` is owned by this user and not writable
    by group or others (and is a directory, or a regular file)."""
    st = os.stat(path)
    kind = "directory" if is_dir else "file"
    if is_dir and not stat.S_ISDIR(st.st_mode) or not is_dir and not stat.S_ISREG(st.st_mode):
        raise UntrustedCacheError(f"the compiled loop's cache {path} is not a {kind}; {_fix(path, is_dir)}")
    if st.st_uid != os.getuid():
        raise UntrustedCacheError(
            f"the compiled loop's cache {kind} {path} is owned by uid {st.st_uid}, not by you (uid {os.getuid()}): "
            f"its code is not loaded; {_fix(path, is_dir)}"
        )
    if st.st_mode & 0o022:
        raise UntrustedCacheError(
            f"the compiled loop's cache {kind} {path} is writable by group or others (mode "
            f"{stat.S_IMODE(st.st_mode):04o}): its code is not loaded; {_fix(path, is_dir)}"
        )


def trusted_cache_dir():
    """:func:`cache_dir`, created with mode 0700 if missing, once checked to be only yours."""
    d = cache_dir()
    try:
        d.parent.mkdir(parents=True, exist_ok=True)
        d.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise UntrustedCacheError(f"cannot create the compiled loop's cache {d} ({exc.strerror}); "
                                  "set NUMBA_CACHE_DIR to a directory of yours") from None
    check_private(d, is_dir=True)
    return d


def loop_sources_digest():
    """A digest of the files :data:`LOOP_SOURCES`: their version."""
    h = hashlib.sha256()
    for name in LOOP_SOURCES:
        h.update(hashlib.sha256((_HERE / name).read_bytes()).digest())
    return h.hexdigest()[:20]


def use_checked_numba_cache(version):
    """Point Numba's own cache (``cache=True``) at the checked directory's ``numba/{version}``,
    before it compiles."""
    import numba

    numba.config.CACHE_DIR = str(trusted_cache_dir() / "numba" / version)
