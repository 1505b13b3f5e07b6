"""Raw archives -> one prepared HDF5 file: parse, split, normalise, store."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..errors import InputError
from .formats import get_format
from .preprocess import apply_recipe
from .store import write_dataset
from .verify import verify_file


def load_raw(source, raw_dir):
    """Parse the fetched archives of ``source`` (after checking them once more)."""
    raw_dir = Path(raw_dir)
    for remote in source.files:
        verify_file(raw_dir / remote.name, remote)  # the files may have changed since the fetch
    form = get_format(source.format)
    if form.load is None:
        raise InputError(f"dataset {source.name!r} ({source.format}) has no raw files")
    return form.load(raw_dir, source)


def prepare_dataset(source, recipe_name, recipe, raw_dir, out, log=None):
    """Build ``out`` from the raw files in ``raw_dir`` (or the generator) with the recipe; return its fingerprint."""
    log = log if log is not None else sys.stderr
    t0 = time.perf_counter()
    if not get_format(source.format).downloaded:
        raw, provenance = None, {"dataset": source.name, "generated": source.generator}
    else:
        raw = load_raw(source, raw_dir)
        prov_path = Path(raw_dir) / "provenance.json"
        provenance = json.loads(prov_path.read_text()) if prov_path.exists() else {"dataset": source.name}
    splits, consts, meta, background = apply_recipe(source, recipe, raw)
    fp = write_dataset(
        out,
        splits,
        dataset=source.name,
        recipe_name=recipe_name,
        recipe=recipe,
        source=source,
        provenance=provenance,
        consts=consts,
        meta=meta,
        background=background,
    )
    shapes = ", ".join(f"{k} {v[0].shape}" for k, v in splits.items())
    print(f"prepared {out}: {shapes} in {time.perf_counter() - t0:.1f} s (fingerprint {fp[:12]})", file=log, flush=True)
    return fp
