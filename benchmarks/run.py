"""Run every benchmark side by side and write docs/performance.md.

    pip install -e '.[bench]'                 # PyTorch 2.13.0 (CPU) and scikit-learn
    python benchmarks/run.py                  # everything, including two whole studies (~40 min)
    python benchmarks/run.py --quick          # the step-level comparisons only (~3 min)
    python benchmarks/run.py --render-only    # rebuild docs/performance.md from benchmarks/out/results.json
    python benchmarks/run.py --only cs231n_surface   # measure one comparison; replace its section of docs/performance.md
    python benchmarks/run.py --only sparse_step      # the sparse kernel on Fashion-MNIST and MNIST-sparse rows (~4 min)

Every comparison runs its variants round-robin in one process, several times,
and reports the median and the min–max; ratios are of medians from the same
run. One BLAS thread per model throughout. Raw numbers go to
benchmarks/out/results.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402  (sets one BLAS thread before NumPy loads)

REPO = HERE.parent


def fmt_ratio(x):
    return f"{x:.2f}×"


def verdict(ok):
    return "**met**" if ok else "**missed**"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no whole-study runs")
    ap.add_argument("--skip-studies", action="store_true", help="no whole-study runs")
    ap.add_argument("--out", default=str(REPO / "docs" / "performance.md"))
    ap.add_argument("--work", default=str(HERE / "out"), help="where studies run and raw results go")
    ap.add_argument("--render-only", action="store_true", help="rebuild the Markdown from <work>/results.json")
    ap.add_argument("--only", choices=sorted(SECTIONS), help="measure one comparison and replace its section of --out")
    ap.add_argument("--studies-from-work", action="store_true",
                    help="do not run the studies: summarise those an earlier run left in --work (wall time from their Snakemake logs)")
    args = ap.parse_args(argv)
    reps = 3 if args.quick else 5
    if args.only:
        measure, render_section, to_raw, _ = SECTIONS[args.only]
        print(f"{args.only} ...", flush=True)
        m = measure(reps)
        text = render_section(m, f"python benchmarks/run.py --only {args.only}")
        replace_section(Path(args.out), args.only, text)
        print(f"replaced section {args.only} of {args.out}")
        results = Path(args.work) / "results.json"
        if results.exists():  # so that --render-only gives the section back as measured
            raw = json.loads(results.read_text())
            raw[args.only] = to_raw(m)
            raw.setdefault("section_cmdlines", {})[args.only] = f"--only {args.only}"
            results.write_text(json.dumps(raw, indent=2, default=str))
            print(f"stored section {args.only} in {results}")
        return
    if args.render_only:
        raw = json.loads((Path(args.work) / "results.json").read_text())
        write_report(args, raw, *_from_raw(raw), raw.get("cmdline", ""))
        return

    import micro

    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    machine = common.machine()
    print("machine:", json.dumps(machine), flush=True)
    print("batch-1 steps ...", flush=True)
    b1 = micro.batch1(repeats=reps)
    print("bandwidth ...", flush=True)
    bw = micro.bandwidth(repeats=reps)
    print("minibatch steps ...", flush=True)
    mb = micro.minibatch(repeats=reps)
    print("one epoch ...", flush=True)
    ep = micro.epoch(repeats=3)
    print("evaluation ...", flush=True)
    ev = micro.evaluation(repeats=reps)
    print("CS231n surface ...", flush=True)
    cs = micro.cs231n_surface(repeats=reps)
    sparse = None
    if micro.FASHION.exists():
        print("sparse kernel ...", flush=True)
        sparse = _measure_sparse_step(reps)
    studies = {}
    if args.studies_from_work:
        import studies as st

        studies = st.summarise_existing(args.work)
        print("studies summarised from", args.work, ":", ", ".join(studies), flush=True)
    elif not (args.quick or args.skip_studies):
        import studies as st

        print("study: cifar_shaped (27 models) ...", flush=True)
        studies["cifar_shaped"] = st.cifar_shaped(args.work)
        if Path("/usr/share/datasets/fashion-mnist").is_dir():
            print("study: fashion_mnist (336 models) ...", flush=True)
            studies["fashion_mnist"] = st.fashion_mnist(args.work)
        else:
            print("study: fashion_mnist skipped: apt-get install -y dataset-fashion-mnist to run it", flush=True)

    raw = {
        "started": started,
        "machine": machine,
        "batch1": {k: {n: r.as_dict() for n, r in v.items()} for k, v in b1.items()},
        "bandwidth": {"GBps": bw["GBps"], "W1_bytes": bw["W1_bytes"]},
        "minibatch": {k: {**{n: r.as_dict() for n, r in v["results"].items()}, "step_GFLOPs": v["step_GFLOPs"], "sgemm_GFLOPs": v["sgemm_GFLOPs"]} for k, v in mb.items()},
        "epoch": {n: r.as_dict() for n, r in ep.items()},
        "evaluation": {k: {n: r.as_dict() for n, r in v.items()} for k, v in ev.items()},
        "cs231n_surface": _cs_raw(cs),
        "sparse_step": _sparse_raw(sparse),
        "studies": studies,
        "cmdline": " ".join(sys.argv[1:]),
    }
    Path(args.work).mkdir(parents=True, exist_ok=True)
    (Path(args.work) / "results.json").write_text(json.dumps(raw, indent=2, default=str))
    write_report(args, raw, b1, bw, mb, ep, ev, studies, raw["cmdline"])


def write_report(args, raw, b1, bw, mb, ep, ev, studies, cmdline):
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    text = render(raw, b1, bw, mb, ep, ev, studies, cmdline)
    notes = HERE / "notes.md"  # the analysis written by hand: where the time goes, what was tried
    if notes.exists():
        text += "\n" + notes.read_text()
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


def _results(d):
    r = common.Result(d["name"])
    r.samples = list(d["samples_s"])
    return r


def _from_raw(raw):
    """The structures render() takes, rebuilt from results.json."""
    b1 = {k: {n: _results(r) for n, r in v.items()} for k, v in raw["batch1"].items()}
    bw = raw["bandwidth"]
    mb = {}
    for k, v in raw["minibatch"].items():
        mb[k] = {
            "results": {n: _results(r) for n, r in v.items() if isinstance(r, dict)},
            "step_GFLOPs": v["step_GFLOPs"],
            "sgemm_GFLOPs": v["sgemm_GFLOPs"],
        }
    ep = {n: _results(r) for n, r in raw["epoch"].items()}
    ev = {k: {n: _results(r) for n, r in v.items()} for k, v in raw["evaluation"].items()}
    return b1, bw, mb, ep, ev, raw.get("studies", {})


def command(cmdline):
    """The command a run was made with, as typed (runs before 2026-12-01 stored "(no options)" for none)."""
    return " ".join(["python benchmarks/run.py", "" if cmdline == "(no options)" else cmdline]).strip()


def render(raw, b1, bw, mb, ep, ev, studies, cmdline):
    m = raw["machine"]
    L = ["# Performance", ""]
    L.append(f"Measured {raw['started']} with `{command(cmdline)}`; raw numbers in "
             "`benchmarks/out/results.json`. Medians of interleaved repeats, (min–max) in brackets; every ratio is "
             "of medians from the same run. One BLAS thread per model. The machine is shared and noisy: expect "
             "±10% between runs.")
    L += ["", "**Machine**: " + ", ".join(f"{k} {v}" for k, v in m.items()), ""]

    # -- batch 1
    L += ["## Batch-1 SGD step (D=784, C=10, float32; the report's protocol)", "",
          "µs per step. *published*: the report's code re-created (float64, `np.outer`, weight decay added to the "
          "gradient; `benchmarks/published_step.py`) in a fresh process; *torch_hand*: the same step with PyTorch "
          "tensor ops; *torch_autograd*: `nn.Sequential` + `CrossEntropyLoss` + `optim.SGD`. *twolayer* is the "
          "kernel the workflow runs (per-step work compiled by Numba, run as stored machine code); *NumPy loop* the same kernel with its "
          "per-step work in NumPy and BLAS calls (`Batch1SGD(loop=\"numpy\")`, the specification). *flop bound*: "
          "a step's 4·D·H flops at the single-thread sgemm rate of a 200×784 @ 784×H float32 product, measured "
          "beside the steps (2 × that product's time ÷ 200); *×bound* is twolayer's step over it.", ""]
    names = list(next(iter(b1.values())).keys())
    L.append("| model | " + " | ".join(names) + " | ×bound | ×published | ×torch_hand |")
    L.append("|---|" + "---|" * (len(names) + 3))
    for key, res in b1.items():
        ours = res["twolayer"].median
        cells = [res[n].cell() for n in names]
        xb = ours / res["flop bound"].median if "flop bound" in res else float("nan")
        xp = res["published"].median / ours
        xt = res["torch_hand"].median / ours if "torch_hand" in res else float("nan")
        L.append(f"| {key} | " + " | ".join(cells) + f" | {xb:.2f}× | {fmt_ratio(xp)} | {fmt_ratio(xt)} |")
    L.append("")

    # -- bandwidth bound
    nb = bw["W1_bytes"]
    rates = bw["GBps"]
    streaming = {k: v for k, v in rates.items() if not k.startswith("step's")}
    best_name, best = max(streaming.items(), key=lambda kv: kv[1])
    bound_us = 3 * nb / (best * 1e9) * 1e6
    L += ["### The memory-traffic bound (H=275)", "",
          f"A step must read W1 once (forward) and read and write it once (the rank-1 update): 3 × {nb:,} bytes "
          f"(W2 is 1% of that). Streaming rates on a W1-sized buffer, measured in the same run:", "",
          "| kernel | GB/s |", "|---|---|"]
    for k, v in rates.items():
        L.append(f"| {k} | {v:.0f} |")
    L.append("")
    h275 = {k: v for k, v in b1.items() if k.endswith("H=275")}
    for key, res in h275.items():
        step = res["twolayer"].median * 1e6
        L.append(f"- {key}: bound {bound_us:.1f} µs (3 × W1 at the best streaming rate, {best_name}, {best:.0f} GB/s); "
                 f"step {step:.1f} µs: **{100 * bound_us / step:.0f}%** of the bound.")
    L.append("")

    # -- minibatch
    L += ["## Minibatch step (B=200, D=3072, C=10, float32, SGD with momentum)", "",
          "ms per step; GFLOP/s counts the forward GEMM and the weight-gradient GEMM of layer 1 (the input "
          "gradient is never formed) plus layer 2. *sgemm*: the forward GEMM's shape alone, the machine's "
          "single-thread rate.", "",
          "| H | twolayer | torch_hand | sgemm (B×D @ D×H) | twolayer GFLOP/s | sgemm GFLOP/s | % of sgemm | ×torch_hand |",
          "|---|---|---|---|---|---|---|---|"]
    for key, v in mb.items():
        r = v["results"]
        to = r["twolayer"]
        to.scale = 1e3
        th = r.get("torch_hand")
        sg = r["sgemm (B×D @ D×H)"]
        sg.scale = 1e3
        th_cell = (setattr(th, "scale", 1e3) or th.cell()) if th else "n/a"
        ratio = th.median / to.median if th else float("nan")
        L.append(f"| {key[2:]} | {to.cell()} | {th_cell} | {sg.cell()} | {v['step_GFLOPs']:.0f} | {v['sgemm_GFLOPs']:.0f} | "
                 f"{100 * v['step_GFLOPs'] / v['sgemm_GFLOPs']:.0f}% | {fmt_ratio(ratio)} |")
    L.append("")

    # -- epoch
    L += ["## One epoch of CIFAR-shaped data (49,000 × 3,072, batch 200, H=100, momentum 0.9)", "",
          "Seconds per epoch (245 steps); scikit-learn's `MLPClassifier(solver=\"sgd\", max_iter=1)` on the same "
          "float32 array, one BLAS thread.", "", "| variant | s |", "|---|---|"]
    for n, r in ep.items():
        r.scale = 1
        L.append(f"| {n} | {r.cell(digits=3)} |")
    ep_ratio = None
    if len(ep) > 1:
        ep_ratio = ep["sklearn MLPClassifier(sgd)"].median / ep["twolayer"].median
        L.append(f"\ntwolayer is **{fmt_ratio(ep_ratio)}** faster.")
    L.append("")

    # -- evaluation
    L += ["## Evaluation", "", "Accuracy of a H=275 net on 10,000 examples (chunks of 4,096 rows), ms:", "",
          "| activation | ms |", "|---|---|"]
    for act, res in ev.items():
        r = res["accuracy on 10,000"]
        r.scale = 1e3
        L.append(f"| {act} | {r.cell()} |")
    L.append("")

    # -- studies
    if studies:
        L += ["## Whole studies through Snakemake (`--cores 2`)", "",
              "*Overhead* is everything that is not `train_model()` (the steps and evaluations): process start, "
              "imports, loading the HDF5 file, saving, Snakemake's scheduling; as a fraction of the machine time "
              "(wall × cores). *Job overhead* is a job's benchmark wall time minus its `train_model()` time. "
              "Memory: peak RSS of a training job (`getrusage`, exact) vs the arrays it loads (train + val).", "",
              "| study | models | diverged | wall | prepare | Σ job wall | Σ steps | Σ eval | overhead | job overhead (median / max) | peak RSS / loaded | 8-core projection | best val | test |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, s in studies.items():
            L.append(
                f"| {name} | {s['models']} | {s['diverged']} | {s['wall_s'] / 60:.1f} min | {s['prepare_s']:.0f} s | "
                f"{s['sum_job_wall_s'] / 60:.1f} min | {s['sum_steps_s'] / 60:.1f} min | {s['sum_eval_s'] / 60:.1f} min | "
                f"{100 * s['overhead_fraction']:.1f}% | {s['job_overhead_median_s']:.2f} / {s['job_overhead_max_s']:.2f} s | "
                f"{s['peak_rss_mb_max']:.0f} / {s['loaded_mb']:.0f} MB ({s['peak_rss_mb_max'] / s['loaded_mb']:.2f}×) | "
                f"{s['projection_8_cores_s'] / 60:.1f} min | {s['best']['point']} {100 * s['best']['val_acc']:.2f}% | "
                f"{100 * s['test_acc']:.2f}% |")
        L.append("")
        for name, s in studies.items():
            L += study_minutes(name, s)

    # -- targets
    L += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
    for key in [k for k in b1 if k.endswith("H=275")]:
        r = b1[key]
        step = r["twolayer"].median * 1e6
        L.append(f"| batch-1 step H=275 ({key.split('/')[0]}) ≤ 70 µs | {step:.1f} µs | {verdict(step <= 70)} |")
        if "flop bound" in r:
            xb = r["twolayer"].median / r["flop bound"].median
            L.append(f"| ≤ 1.4× the flop bound ({r['flop bound'].median * 1e6:.1f} µs) | {xb:.2f}× | {verdict(xb <= 1.4)} |")
        xp = r["published"].median / r["twolayer"].median
        L.append(f"| ≥ 25× faster than the published code | {fmt_ratio(xp)} | {verdict(xp >= 25)} |")
        if "torch_hand" in r:
            xt = r["torch_hand"].median / r["twolayer"].median
            L.append(f"| ≥ 1.5× faster than PyTorch's hand-written step | {fmt_ratio(xt)} | {verdict(xt >= 1.5)} |")
        frac = bound_us / step
        L.append(f"| ≥ 40% of the in-cache memory-traffic bound | {100 * frac:.0f}% | {verdict(frac >= 0.4)} |")
    v = mb.get("H=1000")
    if v:
        frac = v["step_GFLOPs"] / v["sgemm_GFLOPs"]
        L.append(f"| minibatch H=1000 ≥ 85% of single-thread sgemm | {100 * frac:.0f}% | {verdict(frac >= 0.85)} |")
        th = v["results"].get("torch_hand")
        if th:
            ratio = th.median / v["results"]["twolayer"].median
            L.append(f"| minibatch H=1000 no slower than PyTorch | {fmt_ratio(ratio)} | {verdict(ratio >= 1.0)} |")
    if ep_ratio is not None:
        L.append(f"| epoch ≥ 1.2× faster than scikit-learn | {fmt_ratio(ep_ratio)} | {verdict(ep_ratio >= 1.2)} |")
    fm = studies.get("fashion_mnist")
    if fm:
        L.append(f"| 336-model Fashion-MNIST study ≤ 9 min on 2 cores | {fm['wall_s'] / 60:.1f} min | {verdict(fm['wall_s'] <= 540)} |")
        L.append(f"| ≤ 8 min (the issue on the sparse kernel) | {fm['wall_s'] / 60:.1f} min | {verdict(fm['wall_s'] <= 480)} |")
        L.append(f"| a job's time outside `train_model()` ≤ 0.25 s (median) | {fm['job_overhead_median_s']:.2f} s | "
                 f"{verdict(fm['job_overhead_median_s'] <= 0.25)} |")
        L.append(f"| Snakemake and process overhead ≤ 5% | {100 * fm['overhead_fraction']:.1f}% | {verdict(fm['overhead_fraction'] <= 0.05)} |")
        ratio = fm["peak_rss_mb_max"] / fm["loaded_mb"]
        L.append(f"| peak memory per job ≤ 2× the arrays it loads | {ratio:.2f}× | {verdict(ratio <= 2)} |")
        per_model = fm["sum_train_model_s"] / fm["models"]
        evalr = ev["sigmoid"]["accuracy on 10,000"].median / per_model
        L.append(f"| evaluation (10,000 examples) ≤ 1% of a model's training time | {100 * evalr:.2f}% of {per_model:.1f} s | {verdict(evalr <= 0.01)} |")
    L.append("")
    for name, (_, render_section, _, from_raw) in SECTIONS.items():
        if raw.get(name):  # measured by this run, or later on its own (--only: its command)
            own = raw.get("section_cmdlines", {}).get(name, cmdline)
            L.append(section_block(name, render_section(from_raw(raw[name]), command(own))))
    return "\n".join(L) + "\n"


# -- sections that can be measured on their own (--only) --------------------------------------
def render_cs231n_surface(cs, command):
    surface = cs["net.train (CS231n surface)"]
    same = cs["train_model, same settings"]
    sparse = cs["train_model, loss logged every 100 steps"]
    L = ["## The CS231n surface: `net.train(batch_size=1)`", "",
         f"Measured with `{command}`. µs per step of a whole training call (H=275, D=784, 40,000 steps, float32, "
         "evaluations included), a fresh net each repeat. `net.train` logs the loss at every step (CS231n's "
         "`loss_history`): the batch-1 kernel follows ‖W1‖² through its delayed updates in O(H) a step instead of "
         "flushing them and summing W1 at every step.", "",
         "| variant | µs per step |", "|---|---|"]
    for name, r in cs.items():
        L.append(f"| {name} | {r.cell()} |")
    ratio = surface.median / same.median
    ratio_sparse = surface.median / sparse.median
    L += ["", f"Target: `net.train(batch_size=1)` within 1.2× of `train_model` on the same settings: "
              f"{fmt_ratio(ratio)} ({verdict(ratio <= 1.2)}); against `train_model` logging every 100 steps: "
              f"{fmt_ratio(ratio_sparse)}.", ""]
    return "\n".join(L)


def study_minutes(name, s):
    """Where a study's machine time (wall × cores) went, in core-minutes, from its summary (studies.summarise)."""
    machine = s["wall_s"] * s["cores"]
    parts = [
        ("the SGD steps (Σ `train_seconds`)", s["sum_steps_s"]),
        ("the evaluations (Σ `eval_seconds`)", s["sum_eval_s"]),
        ("the rest of `train_model()`: the loss log, the divergence checks, between blocks",
         s["sum_train_model_s"] - s["sum_steps_s"] - s["sum_eval_s"]),
        ("the jobs' time outside `train_model()` (Σ each job's benchmark wall − its `seconds`)",
         s["sum_job_wall_s"] - s["sum_train_model_s"]),
        ("the rest: preparing the data, figures, tables, the winner's test, Snakemake's scheduling, idle cores",
         machine - s["sum_job_wall_s"]),
    ]
    L = [f"Where the {machine / 60:.1f} core-minutes of `{name}` went ({s['wall_s'] / 60:.1f} min × {s['cores']} cores):", "",
         "| part | core-min | share |", "|---|---|---|"]
    L += [f"| {part} | {sec / 60:.1f} | {sec / machine:.1%} |" for part, sec in parts]
    L.append("")
    return L


NOTES_HEADING = "## Where the time goes"


def section_block(name, text):
    return f"<!-- section {name} -->\n{text}\n<!-- end section {name} -->\n"


def replace_section(path, name, text):
    """Put ``text`` in place of section ``name`` of ``path`` (appended before the notes if it has none)."""
    block = section_block(name, text)
    doc = path.read_text() if path.exists() else "# Performance\n\n"
    start, end = f"<!-- section {name} -->", f"<!-- end section {name} -->"
    if start in doc and end in doc:
        doc = doc[: doc.index(start)] + block.rstrip("\n") + doc[doc.index(end) + len(end):]
    elif NOTES_HEADING in doc:  # before the hand-written analysis (benchmarks/notes.md)
        i = doc.index(NOTES_HEADING)
        doc = doc[:i] + block + "\n" + doc[i:]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block
    path.write_text(doc)


def _measure_cs231n_surface(reps):
    import micro

    return micro.cs231n_surface(repeats=reps)


def _cs_raw(cs):
    return {n: r.as_dict() for n, r in cs.items()}


def _cs_from_raw(raw):
    return {n: _results(r) for n, r in raw.items()}


def _measure_sparse_step(reps):
    import micro

    res = micro.sparse_step(repeats=reps)
    return {"step": res, "break_even": micro.sparse_break_even(repeats=reps)}


def _sparse_raw(m):
    if m is None:
        return None
    return {"step": {rows: {"foreground": e["foreground"],
                            "results": {a: {n: r.as_dict() for n, r in res.items()} for a, res in e["results"].items()}}
                     for rows, e in m["step"].items()},
            "break_even": {k: {n: r.as_dict() for n, r in v.items()} for k, v in m["break_even"].items()}}


def _sparse_from_raw(raw):
    return {"step": {rows: {"foreground": e["foreground"],
                            "results": {a: {n: _results(r) for n, r in res.items()} for a, res in e["results"].items()}}
                     for rows, e in raw["step"].items()},
            "break_even": {k: {n: _results(r) for n, r in v.items()} for k, v in raw["break_even"].items()}}


def render_sparse_step(m, command):
    """The batch-1 step on images with a background: the sparse kernel against the dense one, the dense
    flop bound and the peers; then the two kernels against the foreground share."""
    from twolayer.nn.kernels import SPARSE_BELOW

    L = ["## The batch-1 step on images with a background: the sparse kernel", "",
         f"Measured with `{command}`: µs per step, H=275, D=784, float32, no biases, the L2 decay on; each "
         "row's variants round-robin in one process, median (min–max) of the repeats. Rows: Debian's "
         "Fashion-MNIST training images standardised as the `report_fitted` recipe does; *MNIST-sparse*: "
         "the same images with their dimmest pixels set to 0 until 80.7% of all pixels are (MNIST's share "
         "of blank pixels; this shapes the cost, not the learning problem). The dense flop bound is a "
         "step's 4·D·H flops at the single-thread sgemm rate measured beside them.", ""]
    L += ["| rows (foreground) | activation | variant | µs per step | × dense flop bound | × dense kernel |",
          "|---|---|---|---|---|---|"]
    verdicts = []
    for rows, entry in m["step"].items():
        for act, raw in entry["results"].items():
            res = {n: r for n, r in raw.items()}
            bound, dense = res["dense flop bound"].median, res["twolayer dense kernel"].median
            for name, r in res.items():
                L.append(f"| {rows} ({entry['foreground']:.1%}) | {act} | {name} | {r.cell()} | "
                         f"{r.median / bound:.2f} | {r.median / dense:.2f} |")
            target = 0.5 if rows == "MNIST-sparse" else 1.0
            ratio = res["twolayer sparse kernel"].median / bound
            verdicts.append(f"{rows}, {act}: the sparse step is {fmt_ratio(ratio)} the dense flop bound "
                            f"(target ≤ {target}×: {verdict(ratio <= target)})")
    L += ["", "Targets (the issue on the sparse kernel): " + "; ".join(verdicts) + ".", ""]
    L += ["The two kernels against the foreground share (sigmoid; Fashion-MNIST thresholded to each share of "
          f"blank pixels). `kernel_name` takes the sparse kernel at a foreground share ≤ {SPARSE_BELOW}. "
          "At 0.0% every row is the blank image's input: the sparse step without any W1 work (the output layer, "
          "the activations, the background's O(H) part, the loop itself), the floor of its cost:", "",
          "| foreground | sparse kernel µs | dense kernel µs | sparse / dense |", "|---|---|---|---|"]
    for share, res in m["break_even"].items():
        sp, de = res["sparse"], res["dense"]
        L.append(f"| {float(share):.1%} | {sp.cell()} | {de.cell()} | {sp.median / de.median:.2f} |")
    L.append("")
    return "\n".join(L)


#: the comparisons --only measures on their own: (measure, render, to results.json, from results.json)
SECTIONS = {"cs231n_surface": (_measure_cs231n_surface, render_cs231n_surface, _cs_raw, _cs_from_raw),
            "sparse_step": (_measure_sparse_step, render_sparse_step, _sparse_raw, _sparse_from_raw)}


if __name__ == "__main__":
    main()
