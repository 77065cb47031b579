#!/usr/bin/env python3
"""Remote fan-out: `true` on N loopback hosts, execo against plain ssh, ControlMaster and other SSH libraries.

    python3 bench/remote_fanout.py [--sizes 10,100,500] [--rounds 10] [--peers execo,asyncssh,...] [--quick]

For each N, every peer runs `true` once on N hosts with new connections (cold), then `--rounds` more times on
the same hosts (warm: reusing connections where the peer can). Each peer runs in a subprocess of its own
(``bench/peers/peer_*.py``), with the interpreter of its own venv under ``bench/.venvs/`` (created on first use
with pip), so that imports, threads and memory do not mix. The peers of one N run one after the other on the
same sshds, and the next starts only once the sshds have no session left.

Prints, for each N: each peer's cold, warm and total wall times and its errors; execo's ratio to the best peer
that ran without error (cold, and warm = the sum of the warm rounds; below 1.0 means execo is ahead); execo's
controller memory growth per host and its connection workers' memory with the number of connections they
hold. A peer that cannot be installed, crashes or fails on some hosts is shown as such and the run goes on.

The hosts are addresses 127.0.2.1 and up, served by sshds of ``tests/sshd_servers.py`` (16 addresses per sshd,
MaxStartups and MaxSessions raised, HOME of their own so that remote commands do not source root's heavy
~/.bashrc). See docs/bench.md for the peers' code paths and measured numbers.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS_DIR = os.path.join(HERE, "peers")
VENVS_DIR = os.path.join(HERE, ".venvs")
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from sshd_servers import SshdEnv, descendants  # noqa: E402

sys.path.insert(0, PEERS_DIR)

from harness import RESULT_PREFIX  # noqa: E402

EXECO = "execo"


class Peer:
    """A contender: its script in bench/peers/ and the pip requirements of its venv (None: this python)."""

    def __init__(self, name: str, script: str, requirements: Optional[List[str]] = None, doc: str = "",
                 job_extra: Optional[Dict] = None):
        self.name = name
        self.job_extra = job_extra or {}
        self.script = os.path.join(PEERS_DIR, script)
        self.requirements = requirements
        self.doc = doc

    @property
    def venv(self) -> str:
        return os.path.join(VENVS_DIR, self.name)

    def python(self) -> str:
        """The interpreter to run the peer with, installing its venv on first use (raises with pip's words)."""
        if self.requirements is None:
            return sys.executable
        python = os.path.join(self.venv, "bin", "python")
        marker = os.path.join(self.venv, "installed.json")
        if os.path.exists(marker):
            with open(marker) as f:
                if json.load(f) == self.requirements:
                    return python
        print("  [installing %s into %s]" % (" ".join(self.requirements), os.path.relpath(self.venv)), flush=True)
        for command in ([sys.executable, "-m", "venv", "--clear", self.venv],
                        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + self.requirements):
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if done.returncode != 0:
                lines = [line for line in done.stdout.decode(errors="replace").splitlines()
                         if "ignored: it is neither a file nor a directory" not in line]
                raise RuntimeError("cannot install %s: %s" % (" ".join(self.requirements),
                                                              " | ".join(lines[-3:]) or "exit %d" % done.returncode))
        with open(marker, "w") as f:
            json.dump(self.requirements, f)
        return python


PEERS = [
    Peer("ssh", "peer_ssh.py", doc="one `ssh HOST true` process per host, all at once, every round"),
    Peer("controlmaster", "peer_controlmaster.py", doc="OpenSSH ControlMaster: a persistent master per host, "
         "then `ssh -S`"),
    Peer(EXECO, "peer_execo.py", doc="this repository's facade: Remote over the connection worker pool"),
    Peer("execo-2.8.2", "peer_execo282.py", ["execo==2.8.2"], doc="the original: one ssh process per host"),
    Peer("parallel-ssh", "peer_pssh.py", ["parallel-ssh==2.16.0.post1"], doc="ParallelSSHClient (libssh2, gevent)"),
    Peer("asyncssh", "peer_asyncssh.py", ["asyncssh==2.24.1"], doc="asyncio.gather of connect() then run()"),
    Peer("fabric", "peer_fabric.py", ["fabric==3.2.3"], doc="ThreadingGroup.run (paramiko, a thread per host)"),
]


# --- running one peer ------------------------------------------------------------------------------------------

def wait_idle(env: SshdEnv, timeout: float = 60.0) -> int:
    """Wait until no sshd serves a session any more (the last peer's connections are closed); returns leftovers."""
    deadline = time.monotonic() + timeout
    while True:
        busy = sum(len(descendants(host.pid)) for host in env.hosts if host.proc is not None)
        if busy == 0 or time.monotonic() > deadline:
            return busy
        time.sleep(0.1)


def server_cpu(env: SshdEnv) -> float:
    """CPU seconds used by the sshds and every session they have reaped (the server's share of the machine)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for host in env.hosts:
        if host.proc is None:
            continue
        try:
            with open("/proc/%d/stat" % host.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def run_peer(peer: Peer, job: Dict, work_dir: str, timeout: float) -> Dict:
    """Run one peer on one job in its own process; the result dict always says what happened."""
    try:
        python = peer.python()
    except Exception as error:
        return {"crash": str(error), "not_installed": True}
    job_path = os.path.join(work_dir, "job-%s-%d.json" % (peer.name, len(job["hosts"])))
    with open(job_path, "w") as f:
        json.dump(dict(job, **peer.job_extra), f)
    log_path = os.path.join(work_dir, "%s-%d.log" % (peer.name, len(job["hosts"])))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([python, peer.script, job_path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=log, cwd=work_dir, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, _ = proc.communicate()
            return {"crash": "no result after %gs (killed); log: %s" % (timeout, log_path)}
    results = [line[len(RESULT_PREFIX):] for line in out.decode(errors="replace").splitlines()
               if line.startswith(RESULT_PREFIX)]
    if not results:
        with open(log_path, "rb") as f:
            tail = f.read().decode(errors="replace").strip().splitlines()[-3:]
        return {"crash": "exit %s without a result: %s (log: %s)" % (proc.returncode, " | ".join(tail), log_path)}
    result = json.loads(results[-1])
    if result.get("crash"):
        result["crash"] += " (log: %s)" % log_path
    return result


def ok(result: Dict) -> bool:
    return not result.get("crash") and result.get("errors") == 0 and result.get("cold") is not None


# --- printing ---------------------------------------------------------------------------------------------------

def kb(n: float) -> str:
    return "%.0f KB" % (n / 1024)


def mb(n: float) -> str:
    return "%.1f MB" % (n / 1024 / 1024)


def print_size(n: int, rounds: int, results: Dict[str, Dict]) -> Dict:
    print("\n  %-14s %8s %14s %9s %7s %8s %9s  %s" % ("peer", "cold s", "warm s (x%d)" % rounds, "total s",
                                                     "errors", "CPU s", "sshd CPU", "RSS at end"))
    for name, r in results.items():
        if r.get("crash") and r.get("cold") is None:
            print("  %-14s FAILED: %s" % (name, r["crash"]))
            continue
        warm = sum(r["warm"]) if r.get("warm") else float("nan")
        print("  %-14s %8.3f %14.3f %9s %7d %8s %9s  %s" % (
            name, r["cold"], warm, "%.3f" % r["total"] if r.get("total") else "-", r["errors"],
            "%.2f" % r["cpu"] if r.get("cpu") is not None else "-",
            "%.2f" % r["server_cpu"] if r.get("server_cpu") is not None else "-",
            mb(r["rss_end"]) if r.get("rss_end") else "-"))
        for sample in r.get("error_samples", []):
            print("  %14s   e.g. %s" % ("", sample))
        if r.get("crash"):
            print("  %14s   CRASHED after the cold round: %s" % ("", r["crash"]))
    summary = {"n": n}
    ours = results.get(EXECO)
    others = {name: r for name, r in results.items() if not name.startswith(EXECO + "+") and name != EXECO and ok(r)}
    if ours is not None and ok(ours) and others:
        phases = {"cold": lambda r: r["cold"]}
        if rounds:
            phases["warm"] = lambda r: sum(r["warm"])
        for phase, value in phases.items():
            best = min(others, key=lambda name: value(others[name]))
            if value(others[best]) > 0:
                summary[phase] = (value(ours) / value(others[best]), best)
                print("  execo / best peer, %s: %.2f (best: %s %.3fs)  [target < 1.0, aim 0.7]"
                      % (phase, summary[phase][0], best, value(others[best])))
                for name, variant in results.items():
                    if name.startswith(EXECO + "+") and ok(variant):
                        print("  %s / best peer, %s: %.2f   (bench-only variant, not what execo ships)"
                              % (name, phase, value(variant) / value(others[best])))
    elif ours is not None and not ok(ours):
        print("  execo did not run cleanly: no ratio")
    if ours is not None and ours.get("controller_rss_after"):
        growth = ours["controller_rss_after"] - ours["controller_rss_before"]
        summary["controller_per_host"] = growth / n
        summary["workers_rss"] = ours["workers_rss"]
        summary["connected"] = ours["connected"]
        print("  execo memory: controller %s after the runtime start, %s after importing the SSH modules (fixed),"
              " %s at the end: %+.1f KB per host (target < 200 KB)"
              % (mb(ours["controller_rss_runtime"]), mb(ours["controller_rss_before"]),
                 mb(ours["controller_rss_after"]), growth / n / 1024))
        print("  execo workers: %d processes, %s RSS in all, holding %d connections; CPU: controller %.2fs,"
              " workers %.2fs (the peer's CPU s column is the controller's alone)"
              % (ours["workers"], mb(ours["workers_rss"]), ours["connected"], ours["controller_cpu"],
                 ours["workers_cpu"]))
    summary["execo_ok"] = ours is not None and ok(ours)
    return summary


def median_summary(repeats: List[Dict]) -> Dict:
    """One N's summary over its repeats: execo's median ratio per phase (each ratio paired within one repeat)."""
    summary = dict(repeats[-1])
    summary["execo_ok"] = all(r["execo_ok"] for r in repeats)
    for phase in ("cold", "warm"):
        ratios = sorted(r[phase] for r in repeats if phase in r)
        if ratios and len(repeats) > 1:
            summary[phase] = ratios[len(ratios) // 2]
            print("  execo / best peer, %s, median of %d runs: %.2f (runs: %s)" % (
                phase, len(ratios), summary[phase][0], ", ".join("%.2f %s" % r for r in ratios)))
    return summary


def print_summary(summaries: List[Dict]) -> None:
    print("\nSummary (execo's time / the best peer's; < 1.0: execo ahead)")
    for s in summaries:
        cold = "%.2f vs %s" % s["cold"] if "cold" in s else "-"
        warm = "%.2f vs %s" % s["warm"] if "warm" in s else "-"
        memory = "%+.1f KB/host" % (s["controller_per_host"] / 1024) if "controller_per_host" in s else "-"
        print("  N=%-4d cold %-22s warm %-22s execo errors: %-4s controller %s" % (
            s["n"], cold, warm, "none" if s["execo_ok"] else "YES", memory))
    with_workers = [s for s in summaries if s.get("connected")]
    if len(with_workers) >= 2:
        low, high = with_workers[0], with_workers[-1]
        if high["connected"] > low["connected"]:
            slope = (high["workers_rss"] - low["workers_rss"]) / (high["connected"] - low["connected"])
            print("  workers' RSS per extra connection (N=%d -> N=%d): %.1f KB"
                  % (low["n"], high["n"], slope / 1024))


# --- main --------------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="peers: " + "; ".join("%s: %s" % (p.name, p.doc) for p in PEERS))
    parser.add_argument("--sizes", default="10,100,500", help="numbers of hosts, comma-separated (default 10,100,500)")
    parser.add_argument("--rounds", type=int, default=10, help="warm rounds after the cold one (default 10)")
    parser.add_argument("--peers", default=",".join(p.name for p in PEERS),
                        help="which peers, comma-separated (default: all)")
    parser.add_argument("--quick", action="store_true", help="smoke run: --sizes 10,30 --rounds 2")
    parser.add_argument("--execo-tweaks", metavar="LIST",
                        help="also run execo with tweaked workers (threads,eq: see "
                             "bench/peers/tweaked_conn_worker.py), as the peer execo+LIST; excluded from the best peer")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every peer this many times per N, alternating, and give execo's median ratio "
                             "(the machine is shared: single runs move by 20%%)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one peer may take at one N")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.rounds = "10,30", 2
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes: comma-separated integers expected, got %r" % args.sizes)
    if not sizes or min(sizes) < 1 or max(sizes) > 1000:
        parser.error("--sizes: between 1 and 1000 hosts, got %r" % args.sizes)
    known = {p.name: p for p in PEERS}
    wanted = [name.strip() for name in args.peers.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        parser.error("--peers: unknown %s (known: %s)" % (", ".join(unknown), ", ".join(known)))
    peers = [known[name] for name in wanted]
    if args.execo_tweaks:
        variant = Peer(EXECO + "+" + args.execo_tweaks, "peer_execo.py", doc="execo, tweaked workers",
                       job_extra={"tweaks": args.execo_tweaks})
        peers.insert(peers.index(known[EXECO]) + 1 if known[EXECO] in peers else 0, variant)

    # execo as installed (pip compiles what it installs): an editable checkout with PYTHONDONTWRITEBYTECODE set
    # would otherwise compile our modules again in every connection worker, inside the cold round
    repo = os.path.dirname(HERE)
    for package in ("actors", "api"):
        compileall.compile_dir(os.path.join(repo, package), quiet=1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 16 * max(sizes) + 1024)), hard))
    work_dir = tempfile.mkdtemp(prefix="remote-fanout-")
    env = SshdEnv()
    try:
        addresses = env.many_addresses(max(sizes))
        print("remote fan-out: `true` on loopback hosts; %d cores; %d sshds serve %d addresses on port %d; "
              "%d warm rounds; logs in %s" % (os.cpu_count() or 0, len(env.hosts), len(addresses), env.port,
                                              args.rounds, work_dir))
        summaries = []
        for n in sizes:
            job = {"hosts": addresses[:n], "rounds": args.rounds, "user": env.user, "key": env.client_key,
                   "port": env.port, "ssh_config": env.ssh_config_file, "connect_timeout": 30,
                   "timeout": args.timeout, "execo_params": env.connection_params()}
            print("\nN=%d hosts  (load average %.1f %.1f %.1f)" % ((n,) + os.getloadavg()), flush=True)
            repeats = []
            for repeat in range(max(1, args.repeat)):
                if args.repeat > 1:
                    print("\n  run %d of %d" % (repeat + 1, args.repeat), end="")
                order = peers[repeat % len(peers):] + peers[:repeat % len(peers)]  # nobody always goes first
                results: Dict[str, Dict] = {}
                for peer in order:
                    left = wait_idle(env)
                    if left:
                        print("  [%d sshd sessions still open before %s]" % (left, peer.name))
                    before = server_cpu(env)
                    results[peer.name] = run_peer(peer, job, work_dir, args.timeout)
                    wait_idle(env)  # the sessions' CPU reaches the sshds' counters once they are reaped
                    results[peer.name]["server_cpu"] = server_cpu(env) - before
                repeats.append(print_size(n, args.rounds, {p.name: results[p.name] for p in peers}))
            summaries.append(median_summary(repeats))
        print_summary(summaries)
        biggest = summaries[-1]
        if biggest["n"] >= 500 and EXECO in wanted:
            print("  %d hosts at once with execo: %s" % (biggest["n"], "no error" if biggest["execo_ok"] else
                                                         "ERRORS (see above)"))
        print("load average at the end: %.1f %.1f %.1f" % os.getloadavg())
    finally:
        env.stop()


if __name__ == "__main__":
    main()
