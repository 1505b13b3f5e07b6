"""Is this archive the one we expect? Checksums of the bytes, or of the payload.

An archive passes if the MD5 of its bytes equals the official one, or, for
a gzip file, if the SHA-256 (and size) of its decompressed content equal the
recorded payload digest. The second rule accepts a recompressed copy whose
content is identical (Debian recompresses Fashion-MNIST). Everything else
raises :class:`VerificationError` with the expected and actual values.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass

from ..errors import UserError

CHUNK = 1 << 20
# what a gzip file may decompress to when its payload size is not recorded (a config's own dataset)
MAX_PAYLOAD = 4 << 30


class VerificationError(UserError):
    """The file is not the expected archive (message: expected vs actual)."""


@dataclass(frozen=True)
class Verified:
    how: str  # "archive-md5" or "payload-sha256"
    md5: str
    sha256: str
    payload_sha256: str | None = None

    def describe(self):
        return {k: v for k, v in self.__dict__.items() if v is not None}


def file_digests(path):
    """(md5, sha256) of the bytes of ``path``."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def payload_digest(path, limit=MAX_PAYLOAD, what=None):
    """(sha256, size) of what the gzip file ``path`` decompresses to, streamed.

    Decompression stops as soon as it passes ``limit`` bytes (``what`` says where the limit
    comes from). Raises VerificationError for that, and for a truncated or corrupt gzip stream.
    """
    sha, size = hashlib.sha256(), 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(min(CHUNK, limit + 1 - size)):
                sha.update(chunk)
                size += len(chunk)
                if size > limit:
                    raise VerificationError(
                        f"{path}: decompresses to more than {what or f'{limit} bytes'}; stopped there (not this file's content)"
                    )
    except EOFError:
        raise VerificationError(f"{path}: truncated gzip stream (the download or copy is incomplete)") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise VerificationError(f"{path}: corrupt gzip data ({exc})") from None
    return sha.hexdigest(), size


def verify_file(path, remote, label=None):
    """Check ``path`` against :class:`~twolayer.data.sources.RemoteFile` ``remote``; return :class:`Verified`.

    ``label`` names the file in messages (where it came from), default ``path``.
    """
    label = path if label is None else label
    md5, sha = file_digests(path)
    if remote.md5 and md5 == remote.md5:
        return Verified("archive-md5", md5, sha)
    problems = []
    if remote.md5:
        problems.append(f"archive MD5 expected {remote.md5}, got {md5}")
    if remote.payload_sha256:
        if str(path).endswith(".gz") or _is_gzip(path):
            try:
                if remote.payload_size is not None:
                    limit, what = remote.payload_size, f"the recorded payload size of {remote.payload_size} bytes"
                else:
                    limit, what = MAX_PAYLOAD, f"{MAX_PAYLOAD} bytes (no payload size is recorded for this file)"
                psha, psize = payload_digest(path, limit, what)
            except VerificationError as exc:
                problems.append(str(exc).split(": ", 1)[-1])  # drop the path prefix
            else:
                if psha == remote.payload_sha256 and (remote.payload_size is None or psize == remote.payload_size):
                    return Verified("payload-sha256", md5, sha, psha)
                size_note = "" if remote.payload_size is None else f" ({psize} bytes, expected {remote.payload_size})"
                problems.append(f"payload SHA-256 expected {remote.payload_sha256}, got {psha}{size_note}")
        else:
            problems.append("not a gzip file, so its payload cannot be compared")
    else:
        problems.append("no payload digest is recorded for this file, so only the official archive is accepted")
    raise VerificationError(f"{label} is not a valid {remote.name}: " + "; ".join(problems))


def _is_gzip(path):
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"
