"""The workflow through a real one-node SLURM (tests/workflow/slurm/onenode.py), compared with a local run.

Runs where a one-node SLURM can be set up (root, apt-get or SLURM installed, and
the executor plugin); CI does. By hand:

    python tests/workflow/slurm/onenode.py start
    snakemake --profile profiles/slurm --slurm-no-account --slurm-status-command squeue ...
    python tests/workflow/slurm/onenode.py stop
"""

import re
import sys
from pathlib import Path

import pytest
from workflow_helpers import REPO, run_snakemake, study_results

sys.path.insert(0, str(Path(__file__).parent / "slurm"))
import onenode  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.integration]


def _plugin_missing():
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    return None


@pytest.fixture(scope="module")
def slurm():
    reason = onenode.available() or _plugin_missing()
    if reason:
        pytest.skip(reason)
    try:
        onenode.start()
    except Exception as exc:  # noqa: BLE001 - report everything the daemons said
        onenode.stop()
        pytest.fail(f"could not start a one-node SLURM: {exc}\n{onenode.log_tail()}")
    yield
    onenode.stop()


def slurm_config():
    """The offline demo's spiral study and a reduced Fashion-MNIST study (fewer steps, no refine
    stage: tests/study/analysis/test_replication.py runs the checkpoint; here it would only add minutes of polling)."""
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["studies"]["fashion_demo"]["training"]["steps"] = 20000
    del cfg["studies"]["fashion_demo"]["refine"]
    # a slice of Fashion-MNIST: what is tested is the scheduling, and the slice keeps the data
    # files, the evaluations and the winner's replay small
    cfg["recipes"] = {"slice": {"split": {"kind": "tail", "train": 6000, "val": 1000, "test": 1000},
                                "normalise": {"kind": "standardise_train"}}}
    cfg["studies"]["fashion_demo"]["recipe"] = "slice"
    return cfg


def test_the_workflow_runs_through_sbatch_and_matches_a_local_run(slurm, tmp_path, fashion_mnist_dir):
    from test_reliability import deterministic_view

    cfg = slurm_config()
    # the numbers each study gives, its winner's replay and one figure (the replay and the figures
    # stay local); the other figures and the report's pages add jobs, not scheduling
    targets = [f for study in cfg["studies"] for f in study_results(study, "trace.h5", "figures/curves.png")]
    local = tmp_path / "local"
    run_snakemake(local, cfg, "--cores", "2", *targets)
    cluster = tmp_path / "cluster"
    r = run_snakemake(
        cluster, cfg,
        "--profile", str(REPO / "profiles" / "slurm"),
        "--slurm-no-account", "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "1",
        "--seconds-between-status-checks", "2",
        "--group-components", "train=7",  # groups smaller than the 13 jobs, so that two allocations are visible
        "--latency-wait", "5",
        *targets,
        timeout=1200,
    )
    out = r.stdout + r.stderr
    # every job went through sbatch: "Job <id> has been submitted with SLURM jobid <n> (log: .../<kind>/<n>.log)"
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: \S+/slurm_logs/(\w+)/", out)
    kinds = [kind for _, kind in submitted]
    assert kinds.count("rule_prepare") == 2, out[-4000:]
    # the 13 training jobs went as grouped allocations (groups of 7 here: 7 and 6, which the node's two
    # CPUs run side by side; each allocation starts Snakemake anew, so more groups only add minutes)
    n_train = sum(1 for _ in (cluster / "results").rglob("model.h5"))
    assert n_train == 5 + 8
    assert kinds.count("group_train_train") == 2 == out.count("Group job train")
    assert set(kinds) == {"rule_prepare", "group_train_train"}  # fetch, aggregate, the replay, figures, tables stayed local
    # the scheduler ran them all to completion (finished jobs stay listed: MinJobAge)
    states = dict(
        line.split()[:2]
        for line in onenode.run(["squeue", "--states=all", "-h", "-o", "%i %T"], check=False).stdout.splitlines()
    )
    assert {states.get(jobid) for jobid, _ in submitted} == {"COMPLETED"}, states
    # the same numbers as the local run
    for study in cfg["studies"]:
        assert deterministic_view(cluster, study) == deterministic_view(local, study)
