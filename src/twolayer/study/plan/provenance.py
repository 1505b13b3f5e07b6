"""Which code a workflow step runs, as a digest that changes only when that code does.

Snakemake reruns a job when its command or ``params`` change, but it does
not see edits to Python modules the command imports. Each rule therefore
passes, as a parameter, the digest of the modules its command really uses:
the closure of ``twolayer`` imports from the step's entry module, found by
reading the source (every ``import``, including those inside functions).

The digest is taken over the modules' syntax trees without docstrings, so
editing a comment, a docstring or the formatting does not retrain 336
models, while changing a single operator does. A package's ``templates/``
(the report's pages: Jinja2 templates and CSS) count with their bytes.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "twolayer"
TEMPLATES = "templates"  # a package's page templates (package data) count as its code


def _package_dir():
    import twolayer

    return Path(twolayer.__file__).parent


def _module_file(name):
    parts = name.split(".")[1:]
    base = _package_dir().joinpath(*parts)
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _imports(name, tree, is_package):
    pkg = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != PACKAGE:
                continue
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)  # "from . import x" may name a module
    return found


def _strip_docstrings(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def module_closure(*entries):
    """The ``twolayer`` modules that importing ``entries`` can load (parent packages included)."""
    todo = list(entries)
    seen = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue  # a name imported from a module, not a module itself
        tree = ast.parse(path.read_text(), filename=str(path))
        seen[name] = path
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(_imports(name, tree, path.name == "__init__.py"))
    return dict(sorted(seen.items()))


@lru_cache(maxsize=None)
def code_digest(*entries):
    """SHA-256 (hex, 16 chars) of the docstring-free syntax trees of the closure of ``entries``.

    The package's own ``__init__`` (version string, lazy-import table) is left out:
    bumping the version does not retrain anything.
    """
    h = hashlib.sha256()
    for name, path in module_closure(*entries).items():
        if name == PACKAGE:
            continue
        tree = _strip_docstrings(ast.parse(path.read_text(), filename=str(path)))
        h.update(name.encode() + b"\0" + ast.dump(tree, annotate_fields=False).encode() + b"\0")
        if path.name == "__init__.py" and (path.parent / TEMPLATES).is_dir():  # what the package renders with
            for f in sorted((path.parent / TEMPLATES).rglob("*")):
                if f.is_file():
                    h.update(f.relative_to(path.parent).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


# The entry module of each workflow step (what its CLI command calls).
STEPS = {
    "prepare": ("twolayer.data.prepare",),
    "train": ("twolayer.study.run.runner",),
    "aggregate": ("twolayer.study.analysis.aggregate",),
    "evaluate": ("twolayer.study.analysis.evaluate",),
    "tables": ("twolayer.study.analysis.tables",),
    "html": ("twolayer.study.report.pages",),
    "scorecard": ("twolayer.study.analysis.scorecard",),
    "trace": ("twolayer.study.run.trace",),
    "certainty": ("twolayer.study.analysis.replication",),
}


def step_digest(step):
    return code_digest(*STEPS[step])
