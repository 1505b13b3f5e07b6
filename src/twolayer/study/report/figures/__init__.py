"""Figures, one function per figure name; matplotlib with the Agg backend.

Which figures a study gets depends on its data (:func:`figure_names`):
every study has the winner's training ``curves``, the validation-accuracy
``heatmap`` over the grid, the test ``confusion`` matrix and ``samples`` of
the data; 28x28 grayscale data add the report's weight figures (``w1_pca``:
PCA of W1 to 10 components, ``w2``, ``templates``: the class templates
W1 W2); colour images add ``w1`` (every hidden unit as an image, CS231n);
2-D data (the spiral) add ``boundaries`` (linear vs two-layer). Grayscale data also get
the report's figures as the report drew them (:mod:`.report_figs`): ``curves_report``,
``w1_pca_report`` and ``w2_report``.
"""

from __future__ import annotations

from ....errors import InputError

COMMON = ("curves", "heatmap", "confusion", "samples", "expected_max")
REPLICATED = ("certainty",)  # studies with replicates (config: replicates, refine)


def figure_names(image_shape, replicated=False):
    shape = tuple(image_shape)
    extra = REPLICATED if replicated else ()
    if len(shape) == 3:
        return (*COMMON, "w1", *extra)
    if len(shape) == 2:
        return (*COMMON, "w1_pca", "w2", "templates", "curves_report", "w1_pca_report", "w2_report", *extra)
    return (*COMMON, "boundaries", *extra)


# figure name -> the inputs it reads (besides the code)
NEEDS = {
    "curves": ("winner",),
    "heatmap": ("table",),
    "confusion": ("test",),
    "samples": ("data",),
    "w1": ("winner", "data"),
    "w1_pca": ("winner", "data"),
    "w2": ("winner", "data"),
    "templates": ("winner", "data"),
    "boundaries": ("table", "data"),
    "curves_report": ("trace", "winner"),
    "w1_pca_report": ("winner", "data"),
    "w2_report": ("winner", "data"),
    "expected_max": ("table",),
    "certainty": ("certainty", "table"),
}


# figure name -> (module, function). Modules are imported by name, so that the code
# digest of one figure (twolayer.study.plan.provenance) covers its own module, not its siblings'.
DRAWERS = {
    "curves": ("twolayer.study.report.figures.curves", "draw_curves"),
    "heatmap": ("twolayer.study.report.figures.heatmap", "draw_heatmap"),
    "confusion": ("twolayer.study.report.figures.heatmap", "draw_confusion"),
    "samples": ("twolayer.study.report.figures.data_figs", "draw_samples"),
    "boundaries": ("twolayer.study.report.figures.data_figs", "draw_boundaries"),
    "w1": ("twolayer.study.report.figures.weights", "draw_w1_images"),
    "w1_pca": ("twolayer.study.report.figures.weights", "draw_w1_pca"),
    "w2": ("twolayer.study.report.figures.weights", "draw_w2"),
    "templates": ("twolayer.study.report.figures.weights", "draw_templates"),
    "curves_report": ("twolayer.study.report.figures.report_figs", "draw_curves_report"),
    "w1_pca_report": ("twolayer.study.report.figures.report_figs", "draw_w1_pca_report"),
    "w2_report": ("twolayer.study.report.figures.report_figs", "draw_w2_report"),
    "expected_max": ("twolayer.study.report.figures.replication_figs", "draw_expected_max"),
    "certainty": ("twolayer.study.report.figures.replication_figs", "draw_certainty"),
}


def figure_digest(name):
    """Digest of the code that draws figure ``name`` (its module, the style, what they import)."""
    from ...plan.provenance import code_digest

    return code_digest(DRAWERS[name][0], "twolayer.study.report.figures.style", "twolayer.atomic")


def draw(name, out, *, study, table=None, winner=None, test=None, data=None, trace=None, certainty=None):
    """Draw figure ``name`` of ``study`` into ``out`` (PNG) from the given files."""
    import importlib

    if name not in DRAWERS:
        raise InputError(f"unknown figure {name!r}; figures are: {', '.join(sorted(DRAWERS))}")
    from ....atomic import atomic_path
    from .style import save, style

    module, func = DRAWERS[name]
    fn = getattr(importlib.import_module(module), func)
    inputs = {"table": table, "winner": winner, "test": test, "data": data, "trace": trace, "certainty": certainty}
    missing = [k for k in NEEDS[name] if inputs[k] is None]
    if missing:
        raise InputError(f"figure {name!r} needs --{' --'.join(missing)}")
    with style():
        fig = fn(study=study, **{k: inputs[k] for k in NEEDS[name]})
        with atomic_path(out) as tmp:
            save(fig, tmp)
