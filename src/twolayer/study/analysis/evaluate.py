"""The winner, once, on the test set.

This is the only place in the package that reads a dataset's ``test``
split. The result, ``test.json``, holds the accuracy, the per-class
accuracy and the confusion matrix (rows: true class, columns: predicted).
With replicates, the winning point's replicate 0 is the single run the paper
reports (``accuracy``), and each of its replicates is tested once too
(``replicates``: every accuracy, their mean, std and 95% t interval).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...atomic import write_json
from ...data.store import check_provenance, load_split
from ...errors import InputError
from ..run.modelio import ModelFile


def evaluate_winner(winner_json, data_path, out):
    winner = json.loads(Path(winner_json).read_text())
    rec = {"study": winner["study"], "point": winner.get("point"), "data_file": str(data_path)}
    if winner.get("point") is None:
        rec.update(accuracy=None, reason=winner.get("reason", "no winner"))
        write_json(out, rec)
        return rec
    mf = ModelFile(winner["model_file"])
    spec = mf.spec
    attrs = check_provenance(data_path, dataset=spec["dataset"], recipe=spec["recipe"])
    if mf.attrs["data_fingerprint"] != attrs["fingerprint"]:
        raise InputError(
            f"{winner['model_file']} was trained on data with fingerprint {mf.attrs['data_fingerprint'][:12]}, "
            f"but {data_path} has {attrs['fingerprint'][:12]}; rerun the workflow so the model is retrained"
        )
    model = mf.build()
    X, y = load_split(data_path, "test", dtype=model.dtype)
    cm = model.confusion_matrix(X, y)
    per_class = np.divide(np.diag(cm), cm.sum(axis=1), out=np.full(len(cm), np.nan), where=cm.sum(axis=1) > 0)
    classes = attrs["classes"]
    rec.update(
        model_file=winner["model_file"],
        hyperparameters=winner.get("hyperparameters"),
        val_acc=winner.get("val_acc"),
        accuracy=float(np.trace(cm) / cm.sum()),
        n=int(cm.sum()),
        classes=classes,
        per_class_accuracy={c: (None if np.isnan(a) else float(a)) for c, a in zip(classes, per_class)},
        confusion_matrix=cm.tolist(),
        data_fingerprint=attrs["fingerprint"],
    )
    files = winner.get("replicate_model_files")
    if files:
        from .statistics import summarize

        accs = []
        for f in files:
            m = ModelFile(f)
            if m.attrs["data_fingerprint"] != attrs["fingerprint"]:
                raise InputError(f"{f} was trained on other data than {data_path}; rerun the workflow")
            accs.append(float(m.build().accuracy(X, y)))
        rec["replicates"] = {"model_files": list(files), "accuracies": accs, **summarize(np.asarray(accs))}
    write_json(out, rec)
    return rec
