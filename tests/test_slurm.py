"""The tiny study on a real one-node SLURM cluster that the test starts itself.

Needs root and the Debian packages slurmctld, slurmd, slurm-client and munge (`.ci/run` installs
them); skipped otherwise. The test writes a slurm.conf under a temporary directory, starts munged
(unless one already answers), slurmctld and slurmd (configless: slurmd fetches the config from
slurmctld and links it at /run/slurm/conf, where `srun` inside a job finds it), runs snakemake with
config/profiles/slurm, compares the results with a local run of the same config, and stops every
daemon it started by the pid in its pid file.
"""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers import REPO, make_study, snakemake_command

PROFILE = os.path.join(REPO, "config", "profiles", "slurm")
PROBLEMS = ("pk_full", "pk_fixed_dose")


def _tiny_config() -> str:
    """The tiny test config with only the `PROBLEMS` (the Python-model ones: a short cluster run)."""
    with open(os.path.join(REPO, ".test", "config", "config.yaml")) as handle:
        config = yaml.safe_load(handle)
    config["problems"] = {k: {**v, "analyses": []} for k, v in config["problems"].items() if k in PROBLEMS}
    config["analyses"] = []  # the fan-outs beyond the FIM run in test_workflow (CI time)
    return yaml.safe_dump(config, sort_keys=False)


CONFIG = _tiny_config()
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin"])
DAEMONS = ("slurmctld", "slurmd", "munged")
CLIENTS = ("sbatch", "srun", "squeue", "sinfo", "scancel", "munge", "unmunge", "runuser")
SNAKEMAKE_TIMEOUT = 900  # seconds; then SIGINT, which makes snakemake cancel its SLURM jobs

pytestmark = pytest.mark.slurm


def skip_reason() -> str | None:
    missing = [name for name in DAEMONS + CLIENTS if shutil.which(name, path=SEARCH_PATH) is None]
    if missing:
        return ("SLURM is not installed (missing " + ", ".join(missing) + "; on Debian: apt-get install "
                "slurmctld slurmd slurm-client munge)")
    if os.geteuid() != 0:
        return "starting munged, slurmctld and slurmd needs root"
    if os.path.exists("/etc/slurm/slurm.conf"):
        return ("this machine has a SLURM configuration (/etc/slurm/slurm.conf): srun inside the jobs "
                "would use it instead of the test's own cluster")
    return None


def tool(name: str) -> str:
    return shutil.which(name, path=SEARCH_PATH)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mem_total_mib() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def write_slurm_conf(root, host: str, ctld_port: int) -> str:
    """A cgroup-free, accounting-free one-node cluster whose state and logs are all under root."""
    for name in ("state", "spool", "log"):
        (root / name).mkdir()
    cpus, memory = len(os.sched_getaffinity(0)), int(0.9 * mem_total_mib())
    conf = root / "slurm.conf"
    conf.write_text(f"""\
ClusterName=fimflowtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={free_port()}
SlurmctldParameters=enable_configless
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
DefMemPerCPU=1024
ReturnToService=2
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
    return str(conf)


def queue(env) -> str:
    """Jobs of the test's cluster that have not ended."""
    return subprocess.run([tool("squeue"), "-h", "-t", "pending,running,completing,configuring", "-o", "%i"],
                          capture_output=True, text=True, env=env, timeout=30).stdout.strip()


def munge_answers() -> bool:
    credential = subprocess.run([tool("munge"), "-n"], capture_output=True, timeout=10)
    if credential.returncode != 0:
        return False
    return subprocess.run([tool("unmunge")], input=credential.stdout, capture_output=True, timeout=10).returncode == 0


def wait_for(predicate, seconds: float, what: str, logs=()):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise RuntimeError(f"timed out after {seconds} s waiting for {what}\n{tails(logs)}")


def tails(paths) -> str:
    return "".join(f"\n--- {path}\n{Path(path).read_text(errors='replace')[-3000:]}" for path in paths
                   if os.path.exists(path))


def read_pid(pid_file: str) -> int | None:
    try:
        with open(pid_file) as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int, command: str) -> bool:
    """Whether `pid` is still the daemon `command` (not a zombie, not a reused pid)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read()
    except OSError:
        return False
    name, state = fields[fields.index("(") + 1:fields.rindex(")")], fields[fields.rindex(")") + 2]
    return name == command[:15] and state != "Z"


def stop(pid_file: str, command: str):
    """TERM the daemon named in pid_file, KILL it after 10 s."""
    pid = read_pid(pid_file)
    if pid is None or not alive(pid, command):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and alive(pid, command):
            time.sleep(0.2)
        if alive(pid, command):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("slurm")
    host = socket.gethostname().split(".")[0]  # hostname -s: slurmd finds its node by it
    ctld_port = free_port()
    conf = write_slurm_conf(root, host, ctld_port)
    env = dict(os.environ, SLURM_CONF=conf)
    daemon_env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM")}
    started = []  # (pid file, command) of every daemon this fixture started
    try:
        if not munge_answers():
            munge = pwd.getpwnam("munge")
            os.makedirs("/run/munge", exist_ok=True)
            os.chown("/run/munge", munge.pw_uid, munge.pw_gid)
            os.chmod("/run/munge", 0o755)
            subprocess.run([tool("runuser"), "-u", "munge", "--", tool("munged"), "--force",
                            "--pid-file=/run/munge/munged.pid"], check=True, timeout=30, env=daemon_env)
            started.append(("/run/munge/munged.pid", "munged"))
            wait_for(munge_answers, 15, "munged", logs=["/var/log/munge/munged.log"])
        logs = [str(root / "log" / "slurmctld.log"), str(root / "log" / "slurmd.log")]
        subprocess.run([tool("slurmctld"), "-c", "-f", conf], check=True, timeout=30, env=daemon_env)
        started.append((str(root / "slurmctld.pid"), "slurmctld"))
        subprocess.run([tool("slurmd"), "--conf-server", f"127.0.0.1:{ctld_port}"], check=True, timeout=30,
                       env=daemon_env)
        started.append((str(root / "slurmd.pid"), "slurmd"))

        def idle():
            state = subprocess.run([tool("sinfo"), "-h", "-N", "-o", "%T"], capture_output=True, text=True,
                                   env=env, timeout=10)
            return state.stdout.strip() == "idle"

        wait_for(idle, 60, "the node to be idle (sinfo -h -N -o %T)", logs=logs)
        yield {"root": root, "env": env, "conf": conf, "logs": logs}
    finally:
        if any(command == "slurmctld" for _, command in started):  # jobs left by a failed run
            subprocess.run([tool("scancel"), "--user", "root"], env=env, capture_output=True, timeout=30)
            try:
                wait_for(lambda: not queue(env), 30, "cancelled jobs to end")
            except RuntimeError:
                pass
        for pid_file, command in reversed(started):
            stop(pid_file, command)
        link = "/run/slurm/conf"
        if os.path.islink(link) and os.readlink(link).startswith(str(root)):
            os.unlink(link)


COMPARED = [f"results/{problem}/{name}" for problem in PROBLEMS
            for name in ("fit/multistart.tsv", "fisher/expected.tsv", "identifiability/summary.tsv")]


@pytest.fixture(scope="module")
def runs(cluster):
    root = cluster["root"]
    local = make_study(root / "local", CONFIG, problems=PROBLEMS)
    on_slurm = make_study(root / "on_slurm", CONFIG, problems=PROBLEMS)  # shares the compile cache
    # the reference: a local run of the compared results, beside the SLURM run (which mostly waits)
    reference_log = root / "snakemake_local.log"
    with reference_log.open("w") as output:
        reference = subprocess.Popen(snakemake_command(local, *COMPARED), stdout=output,
                                     stderr=subprocess.STDOUT)
    try:
        # test-only settings on top of the profile: this cluster has no accounting (sacct fails), so
        # poll squeue (MinJobAge keeps finished jobs visible), and soon; one core per job, so that a
        # group job runs its steps one after another and the two problems' group jobs share a small
        # node (unbounded, a group job asks for as many cores as it has steps that could run at once);
        # no retries.
        command = ["timeout", "-s", "INT", "-k", "60", str(SNAKEMAKE_TIMEOUT),
                   *snakemake_command(on_slurm, "--profile", PROFILE, "--slurm-status-command", "squeue",
                                      "--slurm-init-seconds-before-status-checks", "1", "--retries", "0",
                                      cores=1)]
        run = subprocess.run(command, capture_output=True, text=True, env=cluster["env"],
                             timeout=SNAKEMAKE_TIMEOUT + 120)
        log = run.stdout + run.stderr
        (root / "snakemake_on_slurm.log").write_text(log)
        assert run.returncode == 0, log[-8000:] + tails(cluster["logs"])
        reference.wait(timeout=900)
        assert reference.returncode == 0, tails([reference_log])
    finally:
        if reference.poll() is None:
            reference.send_signal(signal.SIGINT)  # snakemake stops its jobs and exits
            reference.wait(timeout=120)
    return {"local": local, "slurm": on_slurm, "log": log, "env": cluster["env"]}


def test_jobs_ran_as_slurm_jobs_with_post_fit_steps_grouped(runs):
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+) \(log: ([^)]*)\)", runs["log"])
    # per problem: load_problem, 2 fit shards, and one group job for the six post-fit steps
    assert len(submitted) == 8, runs["log"][-5000:]
    kinds = sorted(path.split("slurm_logs/")[1].split("/")[0] for _, path in submitted)
    kinds = ["group_postfit" if kind.startswith("group_postfit") else kind for kind in kinds]
    assert kinds == ["group_postfit"] * 2 + ["rule_fit_multistart"] * 4 + ["rule_load_problem"] * 2, kinds
    # MinJobAge keeps finished jobs in slurmctld: every job completed on the cluster
    listing = subprocess.run([tool("squeue"), "-h", "-t", "all", "-o", "%i %T %C"], capture_output=True,
                             text=True, env=runs["env"], timeout=30)
    jobs = {line.split()[0]: line.split()[1:] for line in listing.stdout.splitlines()}
    for job_id, _ in submitted:  # with --cores 1, a group job too asks for one core
        assert jobs.get(job_id) == ["COMPLETED", "1"], (job_id, listing.stdout)


def test_results_equal_those_of_a_local_run(runs):
    for problem in PROBLEMS:  # the whole study ran on SLURM
        for name in ("fit/waterfall.png", "fit/fit.png", "fisher/summary.json", "sloppiness/spectrum.png",
                     "identifiability/null_directions.tsv", "prediction/bands.png"):
            assert (runs["slurm"] / "results" / problem / name).stat().st_size > 0, name
    for path in COMPARED:
        local = pd.read_csv(runs["local"] / path, sep="\t")
        on_slurm = pd.read_csv(runs["slurm"] / path, sep="\t")
        if path.endswith("multistart.tsv"):
            columns = ["start", "nll"] + [c for c in local.columns if c.startswith(("x0_", "x_"))]
            local = local.sort_values("start")[columns].reset_index(drop=True)
            on_slurm = on_slurm.sort_values("start")[columns].reset_index(drop=True)
        pd.testing.assert_frame_equal(on_slurm, local, check_exact=False, rtol=1e-9, atol=0, obj=path)
