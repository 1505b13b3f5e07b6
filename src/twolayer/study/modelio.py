"""Trained models as HDF5 files.

Layout::

    /params/<name>      the weights (W1, b1, W2, b2 or W, b), in the model's dtype
    /history/<name>     loss_steps, loss, lr, eval_steps, train_acc, val_acc

Root attributes (JSON where structured): ``format`` ("twolayer-model"),
``model`` (what rebuilds the net), ``spec`` (the job spec: study, grid
point, every setting), ``status`` ("ok" or "diverged"), ``diverged_step``,
``history`` (scalars: steps done, seconds, final accuracies), ``seeds``,
``data_file`` and ``data_fingerprint`` (the dataset's checksum), and
``package_version``. Written atomically.
"""

from __future__ import annotations

import json

import h5py
import numpy as np

from ..atomic import atomic_path
from ..data.store import DataFileError, decode_attrs

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


def save_model(path, model, history, spec, seeds, data_file, data_fingerprint):
    from .. import __version__

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
            a["package_version"] = __version__


class ModelFile:
    """A loaded model file: ``params``, ``history`` arrays, decoded attributes, and the rebuilt model."""

    def __init__(self, path):
        self.path = path
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            raise DataFileError(f"{path}: not a readable model file ({exc}); retrain it") from None
        with f:
            if f.attrs.get("format") != FORMAT:
                raise DataFileError(f"{path}: not a twolayer model file; retrain it")
            self.params = {k: v[()] for k, v in f["params"].items()}
            self.history = {k: v[()] for k, v in f["history"].items()}
            self.attrs = decode_attrs(f.attrs)

    @property
    def status(self):
        return self.attrs["status"]

    @property
    def spec(self):
        return self.attrs["spec"]

    def build(self):
        """The classifier with these weights."""
        from ..nn.models import get_model

        desc = dict(self.attrs["model"])
        cls = get_model(desc.pop("kind"))
        settings = {k: desc[k] for k in cls.SETTINGS if k in desc}
        return cls.from_params(self.params, **settings)
