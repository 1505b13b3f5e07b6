"""A real one-node SLURM on this machine's loopback, without systemd (needs root and apt-get).

    python tests/workflow/slurm/onenode.py install   # Debian's slurm-wlm, slurmctld, slurmd and munge
    python tests/workflow/slurm/onenode.py start     # munged, slurmctld, slurmd; waits until the node is idle
    python tests/workflow/slurm/onenode.py status
    python tests/workflow/slurm/onenode.py stop      # cancels every job and stops every daemon it started

Pitfalls of such a setup, and what this script does about them:

* the executor plugin's job step strips ``SLURM_*`` variables, ``SLURM_CONF``
  included, so a config outside ``/etc/slurm`` is lost inside jobs: the
  config is written to ``/etc/slurm/slurm.conf`` (the previous one, if any,
  is kept aside and put back by ``stop``);
* without accounting storage, job states come from ``squeue``: ``MinJobAge``
  is set to 10 minutes so finished jobs stay visible long enough for
  Snakemake's status checks (and the workflow runs with
  ``--slurm-status-command squeue``);
* there is no account database (run with ``--slurm-no-account``);
* no cgroup-based tracking or confinement in a container: ``proctrack/linuxproc``
  and ``task/none`` (no ``cgroup.conf`` is written: SLURM 22.05 autodetects).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ETC = Path("/etc/slurm")
CONF = ETC / "slurm.conf"
BACKUP = ETC / "slurm.conf.twolayer-backup"
STATE = Path("/var/spool/twolayer-slurm")
PIDS = {"slurmctld": STATE / "slurmctld.pid", "slurmd": STATE / "slurmd.pid"}
PACKAGES = ["slurm-wlm", "slurmctld", "slurmd", "slurm-client", "munge"]


def available():
    """None if a one-node SLURM can run here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "needs root (it writes /etc/slurm and starts daemons)"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "SLURM is not installed and apt-get is not available"
    return None


def run(cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def install():
    if all(shutil.which(b) for b in ("slurmctld", "slurmd", "sbatch", "munged")):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    r = run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=False, env=env)
    if r.returncode != 0:  # the package lists may be stale on a fresh machine
        run(["apt-get", "update", "-qq"], check=False, env=env)
        run(["apt-get", "install", "-y", "-qq", *PACKAGES], env=env)


def memory_mb():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


def write_config():
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    ETC.mkdir(parents=True, exist_ok=True)
    STATE.mkdir(parents=True, exist_ok=True)
    for sub in ("ctld", "d"):
        (STATE / sub).mkdir(exist_ok=True)
    if CONF.exists() and not BACKUP.exists():
        CONF.rename(BACKUP)
    CONF.write_text(
        f"""# written by twolayer's tests/workflow/slurm/onenode.py; 'onenode.py stop' restores any previous file
ClusterName=twolayer
SlurmctldHost={host}(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation={STATE}/ctld
SlurmdSpoolDir={STATE}/d
SlurmctldPidFile={PIDS['slurmctld']}
SlurmdPidFile={PIDS['slurmd']}
SlurmctldLogFile={STATE}/slurmctld.log
SlurmdLogFile={STATE}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=600
InactiveLimit=0
KillWait=5
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={max(memory_mb() - 1024, 1024)} State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
    )


def munge_works():
    return run(["munge", "-n"], check=False).returncode == 0


def start_munge():
    if munge_works():
        return
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        if shutil.which("mungekey"):
            run(["mungekey", "--create", "--keyfile", str(key)])
        else:
            key.write_bytes(os.urandom(1024))
    for d in ("/etc/munge", "/var/lib/munge", "/var/log/munge", "/run/munge"):
        Path(d).mkdir(parents=True, exist_ok=True)
        shutil.chown(d, "munge", "munge")
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    run(["runuser", "-u", "munge", "--", "munged"])
    for _ in range(50):
        if munge_works():
            return
        time.sleep(0.1)
    raise RuntimeError("munged did not start")


def node_state():
    r = run(["sinfo", "-h", "-o", "%T"], check=False)
    return r.stdout.strip() if r.returncode == 0 else f"sinfo failed: {r.stderr.strip()}"


def start(timeout=60):
    install()
    write_config()
    start_munge()
    run(["slurmctld"])
    run(["slurmd"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = node_state()
        if state.startswith("idle"):
            return
        if state.startswith(("down", "drain")):
            run(["scontrol", "update", f"NodeName={socket.gethostname().split('.')[0]}", "State=RESUME"], check=False)
        time.sleep(0.5)
    raise RuntimeError(f"the SLURM node did not become idle: {node_state()}\n{log_tail()}")


def log_tail():
    out = []
    for name in ("slurmctld.log", "slurmd.log"):
        p = STATE / name
        if p.exists():
            out.append(f"--- {p}\n" + "\n".join(p.read_text().splitlines()[-20:]))
    return "\n".join(out)


def _stop_process(name, timeout=15):
    run(["pkill", "-x", name], check=False)
    deadline = time.monotonic() + timeout
    while run(["pgrep", "-x", name], check=False).returncode == 0:
        if time.monotonic() > deadline:
            run(["pkill", "-9", "-x", name], check=False)
            break
        time.sleep(0.1)


def stop():
    run(["scancel", "--full", "--quiet", "-u", "root"], check=False)
    for name, pidfile in PIDS.items():
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text().strip()), 15)
            except (ProcessLookupError, ValueError):
                pass
        _stop_process(name)
    _stop_process("munged")
    if BACKUP.exists():
        BACKUP.replace(CONF)
    elif CONF.exists() and CONF.read_text().startswith("# written by twolayer"):
        CONF.unlink()
    if STATE.exists():
        shutil.rmtree(STATE, ignore_errors=True)


def main(argv):
    cmd = argv[1] if len(argv) > 1 else "status"
    if cmd == "install":
        install()
    elif cmd == "start":
        start()
        print(f"SLURM up: node {node_state()}")
    elif cmd == "stop":
        stop()
    elif cmd == "status":
        print(node_state())
    else:
        raise SystemExit(f"usage: {argv[0]} install|start|stop|status")


if __name__ == "__main__":
    main(sys.argv)
