#!/usr/bin/env python3
"""A `kadeploy3` client stand-in: kadeploy 3.3's options, stdout format and exit codes.

It "deploys" test hosts: a node that deploys well gets a marker file named after its
address, which `check_command()` tests over ssh on the node (every test node is this machine
reached on its own loopback address, so the address tells the nodes apart). A deployment
first removes the markers of its nodes, as a real deployment wipes their disks.

Everything lives in a state directory named by ``$KADEPLOY3_STANDIN_DIR``:

- ``config.json``: ``{"nodes": {fqdn: address}, "environments": [names],
  "fail": {fqdn: n}, "report_ok_broken": {fqdn: n}, "garbled": bool, "delay": seconds}``.
  ``fail``: the node's next n deployments fail (-1: all of them). ``report_ok_broken``: the
  next n deployments are reported successful but leave the node undeployed (a node that
  booted the wrong partition). ``garbled``: print output without the final node lists;
- ``state.json``: what happened (the argv of each run, deployments per node);
- ``nodes/<address>.deployed``: the markers.

`KadeployStandin` (used by the test fixtures) writes the configuration and the wrapper
program ``<dir>/bin/kadeploy3``. By hand::

    python3 tests/kadeploy3_standin.py setup DIR paravance-1.rennes.grid5000.fr=127.0.0.11 ...
    DIR/bin/kadeploy3 -k -d -e debian11-min -m paravance-1.rennes.grid5000.fr
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shlex
import stat
import sys
import time
import uuid
from typing import Dict, Iterable, List, Optional

DEFAULT_ENVIRONMENTS = ["debian11-min", "debian11-nfs", "debian11-big", "debian12-min", "ubuntu2204-min"]
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9.\-\[\],]*$")
_RANGE_RE = re.compile(r"^(.*?)\[([0-9,\-]+)\](.*)$")
_NODE_RE = re.compile(r"^([a-zA-Z]+\d*)-(\d+)\.(.*)$")
STEPS = [
    ("SetDeploymentEnvUntrusted", ["switch_pxe", "reboot", "wait_reboot", "send_key_in_deploy_env",
                                   "create_partition_table", "format_deploy_part", "mount_deploy_part",
                                   "format_swap_part"]),
    ("BroadcastEnvKascade", ["send_environment", "manage_admin_post_install", "manage_user_post_install",
                             "check_kernel_files", "send_key", "install_bootloader", "sync"]),
    ("BootNewEnvKexec", ["switch_pxe", "umount_deploy_part", "mount_deploy_part", "kexec", "wait_reboot"]),
]


# -- state directory -------------------------------------------------------------------------
def marker_path(state_dir: str, address: str) -> str:
    return os.path.join(state_dir, "nodes", address + ".deployed")


def check_command(state_dir: str) -> str:
    """A shell command that exits 0 on a node that this stand-in deployed (run it over ssh)."""
    nodes_dir = shlex.quote(os.path.join(state_dir, "nodes"))
    return 'test -e %s/"$(echo $SSH_CONNECTION | cut -d" " -f3)".deployed' % (nodes_dir,)


@contextlib.contextmanager
def _locked(state_dir: str):
    with open(os.path.join(state_dir, "lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_json(path: str, default):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def _write_json(path: str, doc) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


class KadeployStandin:
    """The state directory of one stand-in, seen from a test."""

    def __init__(self, state_dir: str, nodes: Dict[str, str], environments: Iterable[str] = DEFAULT_ENVIRONMENTS,
                 delay: float = 0.0, python: str = sys.executable):
        self.dir = os.path.abspath(state_dir)
        os.makedirs(os.path.join(self.dir, "nodes"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "bin"), exist_ok=True)
        self.program = os.path.join(self.dir, "bin", "kadeploy3")
        with open(self.program, "w") as f:
            f.write("#!/bin/sh\nKADEPLOY3_STANDIN_DIR=%s exec %s %s \"$@\"\n"
                    % (shlex.quote(self.dir), shlex.quote(python), shlex.quote(os.path.abspath(__file__))))
        os.chmod(self.program, os.stat(self.program).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self.configure(nodes=dict(nodes), environments=list(environments), fail={}, report_ok_broken={},
                       garbled=False, delay=delay)
        _write_json(os.path.join(self.dir, "state.json"), {"runs": [], "deployments": {}})

    @property
    def config(self) -> dict:
        return _read_json(os.path.join(self.dir, "config.json"), {})

    def configure(self, **changes) -> None:
        with _locked(self.dir):
            config = self.config
            config.update(changes)
            _write_json(os.path.join(self.dir, "config.json"), config)

    @property
    def state(self) -> dict:
        return _read_json(os.path.join(self.dir, "state.json"), {"runs": [], "deployments": {}})

    @property
    def runs(self) -> List[List[str]]:
        """The argv (without the program name) of every run, in order."""
        return [run["argv"] for run in self.state["runs"]]

    @property
    def check_command(self) -> str:
        return check_command(self.dir)

    def address(self, node: str) -> str:
        return self.config["nodes"][node]

    def is_deployed(self, node: str) -> bool:
        return os.path.exists(marker_path(self.dir, self.address(node)))

    def mark_deployed(self, node: str, env: str = "by-hand") -> None:
        with open(marker_path(self.dir, self.address(node)), "w") as f:
            json.dump({"node": node, "env": env}, f)

    def deployed_nodes(self) -> List[str]:
        return sorted(n for n in self.config["nodes"] if self.is_deployed(n))


# -- the kadeploy3 program -------------------------------------------------------------------
class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="kadeploy3", add_help=False, allow_abbrev=False,
                usage="kadeploy3 [options]")
    add = p.add_argument
    add("-h", "--help", action="store_true")
    add("-v", "--version", action="store_true")
    add("-I", "--server-info", action="store_true")
    add("-M", "--multi-server", action="store_true")
    add("-H", "--debug-http", "--no-debug-http", action="store_true")
    add("-S", "--server")
    add("--dry-run", "--no-dry-run", action="store_true")
    add("--password", nargs="?", const="")
    add("-d", "--debug-mode", "--no-debug-mode", dest="debug", action="store_true")
    add("-f", "--file", action="append", default=[])
    add("-m", "--machine", action="append", default=[])
    add("-n", "--output-ko-nodes")
    add("-o", "--output-ok-nodes")
    add("-s", "--script")
    add("-V", "--verbose-level", type=int, choices=range(6))
    add("--write-workflow-id")
    add("--wait", dest="wait", action="store_true", default=True)
    add("--no-wait", dest="wait", action="store_false")
    add("--force", "--no-force", action="store_true")
    add("--breakpoint")
    add("--custom-steps")
    add("--hook", "--no-hook", action="store_true")
    add("-a", "--env-file")
    add("-e", "--env-name")
    add("-u", "--env-user")
    add("--env-version", type=int)
    add("-k", "--key", nargs="?", const="~/.ssh/authorized_keys")
    add("-b", "--block-device")
    add("-p", "--partition-number", type=int)
    add("-c", "--boot-partition", type=int)
    add("-r", "--reformat-tmp")
    add("--vlan")
    add("-w", "--set-pxe-profile")
    add("--set-pxe-pattern")
    add("-x", "--upload-pxe-files")
    add("--no-kexec", action="store_true")
    add("--disable-bootloader-install", action="store_true")
    add("--disable-disk-partitioning", action="store_true")
    add("--reboot-classical-timeout", type=int)
    add("--reboot-kexec-timeout", type=int)
    add("--secure", "--no-secure", action="store_true")
    return p


def expand_nodes(name: str) -> List[str]:
    """``node-[1-3,7].site`` -> node-1.site, node-2.site, node-3.site, node-7.site."""
    match = _RANGE_RE.match(name)
    if not match:
        return [name]
    prefix, ranges, suffix = match.groups()
    out = []
    for part in ranges.split(","):
        first, _, last = part.partition("-")
        for i in range(int(first), int(last or first) + 1):
            out.extend(expand_nodes("%s%d%s" % (prefix, i, suffix)))
    return out


def fold_nodes(nodes: Iterable[str]) -> str:
    """The reverse, as kadeploy writes node sets: ``dahu-[1-3,7].grenoble.grid5000.fr``."""
    groups: Dict[tuple, List[int]] = {}
    others = []
    for node in nodes:
        match = _NODE_RE.match(node)
        if match:
            groups.setdefault((match.group(1), match.group(3)), []).append(int(match.group(2)))
        else:
            others.append(node)
    out = []
    for (cluster, rest), numbers in sorted(groups.items()):
        numbers = sorted(set(numbers))
        if len(numbers) == 1:
            out.append("%s-%d.%s" % (cluster, numbers[0], rest))
            continue
        parts, start, prev = [], numbers[0], numbers[0]
        for n in numbers[1:] + [None]:
            if n is not None and n == prev + 1:
                prev = n
                continue
            parts.append(str(start) if start == prev else "%d-%d" % (start, prev))
            if n is not None:
                start = prev = n
        out.append("%s-[%s].%s" % (cluster, ",".join(parts), rest))
    return ",".join(out + sorted(others))


def _node_sort_key(node: str):
    match = _NODE_RE.match(node)
    return (match.group(1), int(match.group(2)), node) if match else (node, 0, node)


def _read_node_file(path: str) -> List[str]:
    stream = sys.stdin if path == "-" else open(path)
    try:
        return [line.strip() for line in stream if line.strip() and not line.lstrip().startswith("#")]
    finally:
        if stream is not sys.stdin:
            stream.close()


def _fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr, flush=True)
    return code


def _take(counter: Dict[str, int], node: str) -> bool:
    """Consume one of the node's planned events (-1: forever)."""
    left = counter.get(node, 0)
    if left == 0:
        return False
    if left > 0:
        counter[node] = left - 1
    return True


def run(argv: List[str], state_dir: str) -> int:
    try:
        args = _parser().parse_args(argv)
    except _UsageError as e:
        return _fail("ERROR: %s" % (e,))
    if args.help:
        print(_parser().format_help().replace("usage: ", "Usage: "))
        return 0
    if args.version:
        print("Kadeploy version: 3.3.11 (stand-in)")
        return 0
    nodes: List[str] = []
    try:
        for path in args.file:
            nodes += _read_node_file(path)
    except OSError as e:
        return _fail("ERROR: cannot read the node list file: %s" % (e,))
    nodes += args.machine
    for node in nodes:
        if not _HOSTNAME_RE.match(node):
            return _fail("ERROR: Invalid hostname: %s" % (node,))
    nodes = [n for name in nodes for n in expand_nodes(name)]
    nodes = sorted(set(nodes), key=_node_sort_key)
    if not nodes:
        return _fail("ERROR: No node is chosen")
    if not args.env_name and not args.env_file:
        return _fail("ERROR: You must choose an environment")
    if args.output_ok_nodes and args.output_ok_nodes == args.output_ko_nodes:
        return _fail("ERROR: The files used for the output of the OK and the KO nodes must not be the same")
    for path in (args.output_ok_nodes, args.output_ko_nodes):
        if path:
            open(path, "w").close()

    with _locked(state_dir):
        config = _read_json(os.path.join(state_dir, "config.json"), {})
        state = _read_json(os.path.join(state_dir, "state.json"), {"runs": [], "deployments": {}})
        state["runs"].append({"argv": argv, "time": time.time()})
        _write_json(os.path.join(state_dir, "state.json"), state)
        known = config.get("nodes", {})
        unknown = [n for n in nodes if n not in known]
        if unknown:
            return _fail("ERROR: The nodes %s does not belongs to any server" % (", ".join(unknown),))
        env = args.env_name
        if env is not None:
            name = env.split("@", 1)[0]
            if name not in config.get("environments", DEFAULT_ENVIRONMENTS):
                owner = args.env_user or (env.split("@", 1)[1] if "@" in env else None)
                return _fail("ERROR: The environment '%s'%s does not exist"
                             % (name, " of user '%s'" % owner if owner else ""))
        else:
            if not os.path.isfile(args.env_file):
                return _fail("ERROR: Cannot fetch the environment description file '%s': No such file or "
                             "directory" % (args.env_file,))
            env = args.env_file
        failing, broken = config.get("fail", {}), config.get("report_ok_broken", {})
        outcomes = {}
        for node in nodes:
            if _take(failing, node):
                outcomes[node] = "ko"
            elif _take(broken, node):
                outcomes[node] = "broken"
            else:
                outcomes[node] = "ok"
            state["deployments"][node] = state["deployments"].get(node, 0) + 1
        _write_json(os.path.join(state_dir, "config.json"), config)
        _write_json(os.path.join(state_dir, "state.json"), state)
        for node in nodes:  # the deployment wipes the node first
            with contextlib.suppress(FileNotFoundError):
                os.unlink(marker_path(state_dir, known[node]))

    wid = "D-%s" % (uuid.uuid4(),)
    if args.write_workflow_id:
        with open(args.write_workflow_id, "w") as f:
            f.write(wid + "\n")
    out = sys.stdout
    delay = float(config.get("delay", 0.0))
    print("Deployment #%s started" % (wid,), file=out)
    if args.key is not None:
        print("Grab the key file %s" % (os.path.expanduser(args.key),), file=out)
    print("Launching a deployment on %s" % (fold_nodes(nodes),), file=out)
    out.flush()
    clusters = sorted({_NODE_RE.match(n).group(1) if _NODE_RE.match(n) else n for n in nodes})
    seconds = 0
    for step, micros in STEPS:
        print("Performing a Deploy[%s] step" % (step,), file=out)
        for micro in micros:
            print("  %s" % (micro,), file=out)
            if micro == "reboot":
                print("   * Performing a soft reboot on %s" % (fold_nodes(nodes),), file=out)
        time.sleep(delay / len(STEPS))
        seconds += 37
        print("End of step Deploy[%s] after %ds" % (step, seconds), file=out)
        out.flush()
    if config.get("garbled"):
        print("Deployment #%s: connection to the kadeploy server lost (stand-in garbled output)" % (wid,),
              file=out, flush=True)
        return 0
    ok = [n for n in nodes if outcomes[n] in ("ok", "broken")]
    ko = [n for n in nodes if outcomes[n] == "ko"]
    for node in ok:
        if outcomes[node] == "ok":
            with open(marker_path(state_dir, known[node]), "w") as f:
                json.dump({"node": node, "env": env, "wid": wid, "vlan": args.vlan}, f)
        print("End of deployment for %s after %ds" % (node, seconds), file=out)
    for cluster in clusters:
        print("End of deployment on cluster %s after %ds" % (cluster, seconds + 1), file=out)
    print("Deployment #%s done" % (wid,), file=out)
    print("", file=out)
    if ok:
        print("The deployment is successful on nodes", file=out)
        for node in ok:
            print(node, file=out)
    if ko:
        print("The deployment failed on nodes", file=out)
        for node in ko:
            print("%s (BootNewEnvKexec-wait_reboot: Unreachable after the reboot)" % (node,), file=out)
    out.flush()
    for path, listed in ((args.output_ok_nodes, ok), (args.output_ko_nodes, ko)):
        if path:
            with open(path, "a") as f:
                f.writelines(n + "\n" for n in listed)
    return 0


def _setup(argv: List[str]) -> int:
    """``setup DIR fqdn=address ...``: create a state directory by hand."""
    if len(argv) < 2 or "=" not in "".join(argv[1:]):
        return _fail("usage: kadeploy3_standin.py setup DIR fqdn=address [fqdn=address ...]", 2)
    nodes = dict(pair.split("=", 1) for pair in argv[1:])
    standin = KadeployStandin(argv[0], nodes)
    print("kadeploy3 stand-in: %s" % (standin.program,))
    print("check command: %s" % (standin.check_command,))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["setup"]:
        return _setup(argv[1:])
    state_dir = os.environ.get("KADEPLOY3_STANDIN_DIR")
    if not state_dir:
        return _fail("ERROR: KADEPLOY3_STANDIN_DIR is not set (run the wrapper made by "
                     "`kadeploy3_standin.py setup DIR ...`)")
    return run(argv, state_dir)


if __name__ == "__main__":
    sys.exit(main())
