"""Trained models as HDF5 files.

Layout::

    /params/<name>      the weights (W1, b1, W2, b2 or W, b), in the model's dtype
    /history/<name>     loss_steps, loss, lr, eval_steps, train_acc, val_acc

Root attributes (JSON where structured): ``format`` ("twolayer-model"),
``model`` (what rebuilds the net), ``spec`` (the job spec: study, grid
point, every setting), ``status`` ("ok" or "diverged"), ``diverged_step``,
``history`` (scalars: steps done, seconds, final accuracies), ``seeds``,
``data_file`` and ``data_fingerprint`` (the dataset's checksum, read from a
dataset file verified as it was loaded), ``data_checks`` (what of it was
verified: :func:`twolayer.data.store.checks_record`), ``package_version`` and
``digests`` (:mod:`twolayer.integrity`: the SHA-256 of every array and every
attribute). Written atomically.

:class:`ModelFile`, the one reader of model files, checks every array and
attribute against its SHA-256 before anything is decoded: a damaged file is a
:class:`DataFileError` naming the file and what differs.
"""

from __future__ import annotations

import json

import h5py
import numpy as np

from ... import integrity
from ...atomic import atomic_path
from ...data.store import DataFileError, decode_attrs
from ...integrity import REBUILD

FORMAT = "twolayer-model"


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def save_model(path, model, history, spec, seeds, data_file, data_fingerprint, data_checks=None):
    from ... import __version__

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            g = f.create_group("params")
            for name, arr in model.params.items():
                g.create_dataset(name, data=arr)
            h = f.create_group("history")
            for name in history.ARRAYS:
                h.create_dataset(name, data=getattr(history, name))
            a = f.attrs
            a["format"] = FORMAT
            a["model"] = json.dumps(_jsonable(model.describe()), sort_keys=True)
            a["spec"] = json.dumps(spec, sort_keys=True)
            a["status"] = history.status
            a["diverged_step"] = -1 if history.diverged_step is None else int(history.diverged_step)
            a["history"] = json.dumps(_jsonable(history.scalars()), sort_keys=True)
            a["train_settings"] = json.dumps(_jsonable(history.settings), sort_keys=True)
            a["seeds"] = json.dumps(seeds, sort_keys=True)
            a["data_file"] = str(data_file)
            a["data_fingerprint"] = data_fingerprint
            if data_checks is not None:
                a["data_checks"] = json.dumps(data_checks, sort_keys=True)
            a["package_version"] = __version__
            integrity.seal(f)


class ModelFile:
    """A loaded model file: ``params``, ``history`` arrays, decoded attributes, and the rebuilt model."""

    def __init__(self, path):
        self.path = path
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            raise DataFileError(f"{path}: not a readable model file ({exc}); retrain it") from None
        with f:
            try:
                raw = dict(f.attrs.items())
                if raw.get("format") != FORMAT:
                    raise DataFileError(f"{path}: not a twolayer model file; retrain it")
                digests = integrity.read_digests(path, raw)
                integrity.check_attributes(path, raw, digests)
                arrays = {}
                for group in ("params", "history"):
                    g = f.get(group)
                    if g is None:
                        raise DataFileError(f"{path}: damaged: group {group!r} is missing; {REBUILD}")
                    arrays[group] = {k: v[()] for k, v in g.items()}
            except (OSError, RuntimeError, KeyError, ValueError) as exc:  # HDF5 could not read its structure
                raise DataFileError(f"{path}: damaged: unreadable ({type(exc).__name__}: {exc}); {REBUILD}") from None
            names = [f"{g}/{k}" for g, d in arrays.items() for k in d]
            integrity.check_names(path, names, digests)
            for g, d in arrays.items():
                for k, a in d.items():
                    integrity.check_array(path, f"{g}/{k}", a, digests)
            self.params, self.history = arrays["params"], arrays["history"]
            self.attrs = decode_attrs(raw, path)

    @property
    def status(self):
        return self.attrs["status"]

    @property
    def spec(self):
        return self.attrs["spec"]

    def build(self):
        """The classifier with these weights."""
        from ...nn.models import get_model

        desc = dict(self.attrs["model"])
        cls = get_model(desc.pop("kind"))
        settings = {k: desc[k] for k in cls.SETTINGS if k in desc}
        return cls.from_params(self.params, **settings)
