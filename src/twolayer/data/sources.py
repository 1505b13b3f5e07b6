"""Dataset sources as data: ``sources.yaml`` plus any a config adds.

A :class:`Source` says which files a dataset consists of, where to look for
them locally, which URLs to download them from (in order) and how to check
them. Configs may define further sources (a private mirror, the tiny
generated dataset of the tests) in the same form under ``datasets:``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources

import yaml

from ..errors import InputError
from .formats import FORMATS

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class RemoteFile:
    key: str  # role in the dataset: train_images, archive, ...
    name: str  # file name, also the last part of its URL
    md5: str | None = None  # of the archive as distributed
    size: int | None = None  # bytes of the archive as distributed: a download is stopped past it
    payload_sha256: str | None = None  # of its decompressed content
    payload_size: int | None = None

    def describe(self):
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Source:
    name: str
    format: str
    classes: tuple
    image_shape: tuple
    description: str = ""
    urls: tuple = ()
    dirnames: tuple = ()
    files: tuple = ()  # of RemoteFile
    members: dict = field(default_factory=dict)
    records_per_member: int | None = None
    generator: dict = field(default_factory=dict)

    @property
    def num_classes(self):
        return len(self.classes)

    def file(self, key):
        for f in self.files:
            if f.key == key:
                return f
        raise KeyError(f"dataset {self.name!r} has no file {key!r}")

    def describe(self):
        """A JSON-able description (stored in HDF5 provenance, passed to the CLI)."""
        return {
            "name": self.name,
            "format": self.format,
            "classes": list(self.classes),
            "image_shape": list(self.image_shape),
            "description": self.description,
            "urls": list(self.urls),
            "dirnames": list(self.dirnames),
            "files": {f.key: {k: v for k, v in f.describe().items() if k != "key"} for f in self.files},
            "members": self.members,
            "records_per_member": self.records_per_member,
            "generator": self.generator,
        }


def source_from_dict(name, spec):
    """Build a :class:`Source` from its description; errors name the dataset and the key."""
    if not NAME_RE.match(name):
        raise InputError(f"dataset name {name!r} must be letters, digits, '_', '-' or '.' (no '/')")
    spec = dict(spec)
    fmt = spec.get("format")
    if fmt not in FORMATS:
        raise InputError(f"dataset {name!r}: format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    files = []
    for key, f in (spec.get("files") or {}).items():
        if "name" not in f:
            raise InputError(f"dataset {name!r}: file {key!r} needs a 'name'")
        if "/" in f["name"] or f["name"] in ("", ".", ".."):
            raise InputError(f"dataset {name!r}: file name {f['name']!r} must be a plain file name")
        for size_key in ("size", "payload_size"):
            v = f.get(size_key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise InputError(f"dataset {name!r}: file {key!r}: {size_key} must be a whole number of bytes (at least 1), got {v!r}")
        if not (f.get("md5") or f.get("payload_sha256")):
            raise InputError(f"dataset {name!r}: file {key!r} needs an 'md5' or a 'payload_sha256' to be verified")
        files.append(
            RemoteFile(
                key=key,
                name=f["name"],
                md5=f.get("md5"),
                size=f.get("size"),
                payload_sha256=f.get("payload_sha256"),
                payload_size=f.get("payload_size"),
            )
        )
    form = FORMATS[fmt]
    missing = set(form.required_files) - {f.key for f in files}
    if missing:
        raise InputError(f"dataset {name!r}: an {fmt} dataset needs files {sorted(missing)}")
    if form.needs_members and not spec.get("members"):
        raise InputError(f"dataset {name!r}: a {fmt} dataset needs 'members' (train/test lists)")
    classes = spec.get("classes")
    if not form.downloaded and not classes:
        classes = [str(i) for i in range(int(spec.get("generator", {}).get("classes", 3)))]
    if not classes:
        raise InputError(f"dataset {name!r}: needs 'classes'")
    return Source(
        name=name,
        format=fmt,
        classes=tuple(str(c) for c in classes),
        image_shape=tuple(int(v) for v in spec.get("image_shape", ())),
        description=spec.get("description", ""),
        urls=tuple(u if u.endswith("/") else u + "/" for u in spec.get("urls", ())),
        dirnames=tuple(spec.get("dirnames") or (name,)),
        files=tuple(files),
        members=dict(spec.get("members") or {}),
        records_per_member=spec.get("records_per_member"),
        generator=dict(spec.get("generator") or {}),
    )


def builtin_specs():
    text = resources.files("twolayer.data").joinpath("sources.yaml").read_text()
    return yaml.safe_load(text)


def all_sources(extra=None):
    """The built-in sources, updated by ``extra`` ({name: spec}, e.g. a config's ``datasets:``)."""
    specs = builtin_specs()
    specs.update(extra or {})
    return {name: source_from_dict(name, spec) for name, spec in specs.items()}


def get_source(name, extra=None):
    sources = all_sources(extra)
    try:
        return sources[name]
    except KeyError:
        raise InputError(
            f"unknown dataset {name!r}; known datasets are: {', '.join(sorted(sources))} "
            "(define others under 'datasets:' in the config)"
        ) from None
