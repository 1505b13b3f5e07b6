"""Obtain a dataset's archives: local copies first, then the URLs in order.

For each file of a :class:`~twolayer.data.sources.Source`:

1. look in every local raw directory (``resources/raw/<dataset>/`` and
   ``/usr/share/datasets/<dataset>/`` by default) under each of the
   source's directory names;
2. otherwise download from each URL in order, with a timeout, a bounded
   number of retries with exponential back-off for errors that may pass
   (timeouts, resets, HTTP 5xx/429) and none for those that will not (an
   unknown host, a refused connection, HTTP 404), and a progress bar.

Every download is bounded: it is stopped as soon as it exceeds the file's
recorded ``size`` (or ``max_bytes`` when none is recorded), or when one
file's download from one URL (retries included) has taken longer than
``deadline`` seconds; either moves on to the next URL. Redirects are
followed to http(s) addresses only, at most :data:`MAX_REDIRECTS` of them,
and a redirect loop is refused.

Whatever is found is written to a temporary name in the destination,
verified (:mod:`twolayer.data.verify`), and only then renamed to its final
name; a refused file is deleted, never left where a later run would take it
for good. When no location yields a verified file the error names the
files, every place tried with its reason, and where to put a manual copy.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import string
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..atomic import remove_stale_temporaries, temporary_name, write_json
from ..errors import InputError, UserError
from ..progress import Progress
from .formats import get_format
from .verify import VerificationError, verify_file

DEFAULT_SEARCH_DIRS = ("resources/raw", "/usr/share/datasets")
# seconds per connection attempt and read; retries per URL for errors that may pass; first retry delay
# (doubles); seconds one file's download from one URL may take in all (retries included); bytes a
# download may have when its file records no size (a config's own dataset)
DOWNLOAD_DEFAULTS = {"timeout": 30.0, "retries": 2, "backoff": 1.0, "deadline": 3600.0, "max_bytes": 2 << 30}
CHUNK = 1 << 16
MAX_REDIRECTS = 5


class FetchError(UserError):
    """No location provided a verified copy of one or more files."""


class _Transient(Exception):
    pass


class _Permanent(Exception):
    pass


def _classify(exc):
    """Turn a download exception into _Transient (worth a retry) or _Permanent."""
    if isinstance(exc, urllib.error.HTTPError):
        if exc.code >= 500 or exc.code == 429:
            return _Transient(f"HTTP {exc.code} {exc.reason}")
        return _Permanent(f"HTTP {exc.code} {exc.reason}")
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, socket.gaierror):
            return _Permanent(f"cannot resolve host ({reason.strerror}; no network?)")
        if isinstance(reason, ConnectionRefusedError):
            return _Permanent("connection refused")
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return _Transient("timed out")
        if isinstance(reason, OSError) and reason.errno in (101, 113):  # network/host unreachable
            return _Permanent(f"unreachable ({reason.strerror})")
        return _Transient(str(reason))
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return _Transient("timed out")
    if isinstance(exc, (ConnectionError, http.client.HTTPException)):
        return _Transient(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, ValueError):  # malformed URL
        return _Permanent(str(exc))
    return _Transient(f"{type(exc).__name__}: {exc}")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only, at most MAX_REDIRECTS of them, never in a loop, and
    without reading a redirect's body (which may never end)."""

    def http_error_302(self, req, fp, code, msg, headers):
        location = headers.get("location") or headers.get("uri")
        fp.close()
        if not location:
            raise _Permanent(f"HTTP {code} redirect without a Location header")
        newurl = urllib.parse.urljoin(req.full_url, urllib.parse.quote(location, encoding="iso-8859-1", safe=string.punctuation))
        chain = getattr(req, "twolayer_chain", [req.full_url])
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise _Permanent(f"redirected to {newurl!r}, which is not an http(s) address; refused")
        if newurl in chain:
            raise _Permanent(f"redirects in a loop ({' -> '.join([*chain, newurl])}); refused")
        if len(chain) > MAX_REDIRECTS:
            raise _Permanent(f"more than {MAX_REDIRECTS} redirects ({' -> '.join([*chain, newurl])}); refused")
        new = self.redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            raise _Permanent(f"HTTP {code} redirect to {newurl} that cannot be followed")
        new.twolayer_chain = [*chain, newurl]
        return self.parent.open(new, timeout=req.timeout)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


_OPENER = urllib.request.build_opener(_Redirects)


def _past_deadline(deadline, written):
    return _Permanent(
        f"took longer than the download deadline of {deadline:g} s (download.deadline) with {written} bytes "
        "received; stopped, and the partial download deleted (for a slow connection raise download.deadline)"
    )


def _download_once(url, tmp, timeout, log, cap, cap_what, end, deadline):
    """One attempt: at most ``cap`` bytes into ``tmp``, until ``end`` (time.monotonic())."""
    from .. import __version__

    remaining = end - time.monotonic()
    if remaining <= 0:
        raise _past_deadline(deadline, 0)
    req = urllib.request.Request(url, headers={"User-Agent": f"twolayer/{__version__}"})
    written = 0
    try:
        with _OPENER.open(req, timeout=min(timeout, remaining)) as resp:
            final = resp.geturl()
            via = f" (redirected to {final})" if final and final != url else ""
            try:
                total = int(resp.headers.get("Content-Length") or 0)
            except ValueError:
                total = 0
            if total > cap:
                raise _Permanent(f"announces {total} bytes{via}, more than {cap_what}; not downloaded: this is not that file")
            bar = Progress(total, f"  {url.rsplit('/', 1)[-1]}", stream=log)
            read = getattr(resp, "read1", resp.read)  # read1: one read of the socket, so the deadline is checked often
            with open(tmp, "wb") as fh:
                while chunk := read(min(CHUNK, cap + 1 - written)):
                    fh.write(chunk)
                    written += len(chunk)
                    if written > cap:
                        raise _Permanent(
                            f"sent more than {cap_what}{via}; stopped after {written} bytes and deleted the partial "
                            "download: this URL does not serve that file"
                        )
                    if time.monotonic() > end:
                        raise _past_deadline(deadline, written)
                    bar.update(len(chunk))
            bar.close()
            if total and written != total:
                raise _Transient(f"incomplete download: {written} of {total} bytes")
    except (_Transient, _Permanent):
        raise
    except Exception as exc:  # network errors of every kind
        raise _classify(exc) from None


def _download(url, tmp, timeout, retries, backoff, log, cap, cap_what, deadline):
    """Download with retries, within ``deadline`` seconds in all; raises _Permanent or the last _Transient."""
    end = time.monotonic() + deadline
    for attempt in range(retries + 1):
        try:
            _download_once(url, tmp, timeout, log, cap, cap_what, end, deadline)
            return
        except _Transient as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if attempt == retries:
                raise _Transient(f"{exc} (after {retries + 1} attempts)") from None
            wait = backoff * 2**attempt
            if time.monotonic() + wait > end:
                raise _Permanent(f"{exc}; no time left to retry within the download deadline of {deadline:g} s (download.deadline)") from None
            print(f"  {url}: {exc}; retrying in {wait:.1f} s", file=log, flush=True)
            time.sleep(wait)
        except _Permanent:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def local_candidates(source, remote, search_dirs):
    out = []
    for d in search_dirs:
        for sub in source.dirnames:
            out.append(Path(d) / sub / remote.name)
    return out


def _accept(tmp, dest, remote, label):
    """Verify ``tmp``; on success rename it to ``dest``. On failure delete it and re-raise."""
    try:
        verified = verify_file(tmp, remote, label=label)
    except VerificationError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.replace(tmp, dest)
    return verified


def fetch_file(source, remote, dest_dir, search_dirs=DEFAULT_SEARCH_DIRS, timeout=DOWNLOAD_DEFAULTS["timeout"], retries=DOWNLOAD_DEFAULTS["retries"], backoff=DOWNLOAD_DEFAULTS["backoff"], log=None, previous=None, deadline=DOWNLOAD_DEFAULTS["deadline"], max_bytes=DOWNLOAD_DEFAULTS["max_bytes"]):
    """Put a verified copy of ``remote`` at ``dest_dir/<name>``; return its provenance dict.

    A download is stopped past ``remote.size`` (or ``max_bytes`` when no size is recorded)
    and past ``deadline`` seconds per URL; a local copy is not held to the size (a
    recompressed copy has another one) but verified as any other.

    ``previous``: this file's record from an earlier fetch, if any. When the file is
    already there and still verifies, that record is kept as it is (origin and
    verification), so re-running a fetch never loses where the data came from.

    Raises :class:`FetchError` (with every attempt and its reason) if no
    location provides one.
    """
    log = log if log is not None else sys.stderr
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / remote.name
    remove_stale_temporaries(dest)
    tmp = temporary_name(dest)
    attempts = []

    if dest.exists():  # a previous run's verified copy: check it again, keep it if still good
        try:
            verified = verify_file(dest, remote)
            now = {"file": remote.name, **verified.describe()}
            if previous and previous.get("origin") and all(previous.get(k) == v for k, v in now.items() if k != "how"):
                return previous  # checked again, and still the file that came from there
            return {**now, "origin": "already present"}
        except VerificationError as exc:
            dest.unlink()
            attempts.append(f"existing {dest} removed: {exc}")

    found_local = False
    for cand in local_candidates(source, remote, search_dirs):
        if not cand.is_file():
            continue
        found_local = True
        try:
            shutil.copyfile(cand, tmp)
            verified = _accept(tmp, dest, remote, label=f"local copy {cand}")
        except VerificationError as exc:
            attempts.append(f"refused: {exc}")
            print(f"  refused: {exc}", file=log, flush=True)
            continue
        except OSError as exc:
            attempts.append(f"local copy {cand} unreadable: {exc}")
            continue
        print(f"  {remote.name}: verified local copy {cand} ({verified.how})", file=log, flush=True)
        return {"file": remote.name, "origin": f"local:{cand}", **verified.describe()}
    if not found_local:
        searched = ", ".join(str(p.parent) for p in local_candidates(source, remote, search_dirs))
        attempts.append(f"no local copy in {searched or '(no local directories given)'}")

    if remote.size:
        cap, cap_what = remote.size, f"the recorded size of {remote.name} ({remote.size} bytes)"
    else:
        cap, cap_what = max_bytes, f"download.max_bytes ({max_bytes} bytes; no size is recorded for {remote.name})"
    for base in source.urls:
        url = base + remote.name
        try:
            print(f"  downloading {url}", file=log, flush=True)
            _download(url, tmp, timeout, retries, backoff, log, cap, cap_what, deadline)
            verified = _accept(tmp, dest, remote, label=f"download from {url}")
        except (_Transient, _Permanent) as exc:
            attempts.append(f"{url}: {exc}")
            print(f"  {url}: {exc}", file=log, flush=True)
            continue
        except VerificationError as exc:
            attempts.append(f"refused: {exc}")
            print(f"  refused: {exc}", file=log, flush=True)
            continue
        return {"file": remote.name, "origin": url, **verified.describe()}

    raise FetchError(_failure_message(source, remote, attempts, search_dirs))


def _failure_message(source, remote, attempts, search_dirs):
    digest = f"MD5 {remote.md5}" if remote.md5 else f"payload SHA-256 {remote.payload_sha256}"
    where = Path(search_dirs[0]) / source.dirnames[0] if search_dirs else Path("resources/raw") / source.name
    lines = [f"could not obtain {remote.name} of dataset {source.name!r}:"]
    lines += [f"  - {a}" for a in attempts]
    lines.append(f"  Put a copy of {remote.name} ({digest}) into {where}/ and run again.")
    return "\n".join(lines)


def fetch_dataset(source, dest_dir, search_dirs=DEFAULT_SEARCH_DIRS, timeout=DOWNLOAD_DEFAULTS["timeout"], retries=DOWNLOAD_DEFAULTS["retries"], backoff=DOWNLOAD_DEFAULTS["backoff"], log=None, deadline=DOWNLOAD_DEFAULTS["deadline"], max_bytes=DOWNLOAD_DEFAULTS["max_bytes"]):
    """Fetch every file of ``source`` into ``dest_dir``; write and return ``provenance.json``.

    All files are attempted; if any fails, one :class:`FetchError` lists them all.

    Where each file came from is also kept in ``dest_dir/.origins.json``, which the
    workflow does not declare as an output, so a rerun of the fetch (which Snakemake
    starts by deleting ``provenance.json``) still knows it. A ``provenance.json`` whose
    content would not change is left as it is, so that re-checking the files makes
    nothing downstream out of date.
    """
    if not get_format(source.format).downloaded:
        raise InputError(f"dataset {source.name!r} is generated, there is nothing to fetch")
    log = log if log is not None else sys.stderr
    print(f"fetching {source.name} into {dest_dir}", file=log, flush=True)
    dest_dir = Path(dest_dir)
    earlier = {**_previous_records(dest_dir / ORIGINS), **_previous_records(dest_dir / "provenance.json")}
    records, failures = {}, []
    for remote in source.files:
        try:
            records[remote.key] = fetch_file(
                source, remote, dest_dir, search_dirs, timeout, retries, backoff, log, previous=earlier.get(remote.key),
                deadline=deadline, max_bytes=max_bytes,
            )
        except FetchError as exc:
            failures.append(str(exc))
    if failures:
        raise FetchError("\n".join(failures))
    prov = {"dataset": source.name, "files": records}
    for name in (ORIGINS, "provenance.json"):
        if _read_json(dest_dir / name) != prov:
            write_json(dest_dir / name, prov)
    return prov


ORIGINS = ".origins.json"


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _previous_records(path):
    """The per-file records of an existing provenance file ({} if none or unreadable)."""
    data = _read_json(path)
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}
