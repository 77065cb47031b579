"""Deploying environments on Grid'5000 nodes with kadeploy3, and checking that it worked.

- `Deployment` says what to deploy where; `Kadeployer` is the action running ``kadeploy3`` on
  each site's frontend (one process per frontend, in parallel) and reading which nodes it
  reports deployed or not;
- `deploy` retries: it checks which nodes already run the environment (a command run over
  ssh on each node), deploys the others, checks again, and redeploys only the failures, up
  to ``num_tries`` times. The retries are owned by a supervisor actor
  (`execo_actors.deploy_supervisor`); deploy() is its blocking facade;
- `enough_deployed(n)` is the ``check_enough_func`` of "give me n good nodes".

The kadeploy3 command line, the stdout parsing and the summary table are execo 2.8's.
"""

from __future__ import annotations

import copy
import re
import shlex
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from execo.action import Action, ActionLifecycleHandler
from execo.action_factory import get_remote
from execo.host import Host, get_unique_hosts_list
from execo.log import logger, style
from execo.process import ProcessOutputHandler, handle_process_output
from execo.time_utils import format_seconds
from execo.utils import comma_join, compact_output, singleton_to_collection
from execo_actors.deploy_supervisor import DeploymentAborted, TryReport, run_supervised

from .config import g5k_configuration
from .frontend import FrontendCommandError, frontend_process, get_default_frontend

__all__ = ["Deployment", "Kadeployer", "KadeployError", "deploy", "enough_deployed", "EnoughDeployed",
           "get_kavlan_host_name", "FrontendPrefixWrapper", "TryReport", "KaconsoleProcess"]

# kadeploy3 < 3.2 and >= 3.2 headers of the final node lists, and the node lines under them
_DEPLOYED_HEADER_RES = (re.compile(r"^Nodes correctly deployed on cluster \w+\s*$"),
                        re.compile(r"^The \w+ is successful on nodes\s*$"))
_UNDEPLOYED_HEADER_RES = (re.compile(r"^Nodes not correctly deployed on cluster \w+\s*$"),
                          re.compile(r"^The \w+ failed on nodes\s*$"))
_DEPLOYED_NODE_RE = re.compile(r"^(\w+-\d+\.\w+\.grid5000\.fr)\s*$")
_UNDEPLOYED_NODE_RE = re.compile(r"^(\w+-\d+\.\w+\.grid5000\.fr)(\s+\(.*)?\s*$")

_HOST_SITE_RES = (re.compile(r"^[^\s.]+\.([^\s.]+)\.grid5000\.fr$"), re.compile(r"^[^\s.]+\.([^\s.]+)$"))
_SHORT_HOST_RE = re.compile(r"^[^\s.]+$")


def get_kavlan_host_name(host: Any, vlanid: Any) -> str:
    """The DNS name of a host once switched to a kavlan: ``<short>-kavlan-<vlan>.<rest>``."""
    if isinstance(host, Host):
        host = host.address
    short, dot, rest = host.partition(".")
    return "%s-kavlan-%s%s%s" % (short, vlanid, dot, rest)


class Deployment:
    """What to deploy where: a plain holder, as in execo 2.8.

    :param hosts: the hosts (Host or address strings) to deploy.
    :param env_file: an environment description file (``kadeploy3 -a``), or
    :param env_name: a registered environment name (``kadeploy3 -e``); when neither is given,
      ``g5k_configuration['default_env_name']`` or ``['default_env_file']``.
    :param user: owner of the registered environment (``-u``).
    :param vlan: kavlan the nodes are put into after the deployment (``--vlan``).
    :param other_options: more kadeploy3 options, a string inserted as is in the command line.
    """

    def __init__(self, hosts: Any = None, env_file: Optional[str] = None, env_name: Optional[str] = None,
                 user: Optional[str] = None, vlan: Any = None, other_options: Optional[str] = None) -> None:
        self.hosts = hosts
        self.env_file = env_file
        self.env_name = env_name
        self.user = user
        self.vlan = vlan
        self.other_options = other_options

    def _get_common_kadeploy_command_line(self) -> str:
        """``kadeploy3 -k -d {-e NAME | -a FILE} [-u USER] [--vlan V] [other]``.

        Values are shell-quoted (execo 2.8 pasted them as is); a plain name is unchanged.
        """
        if self.env_file and self.env_name:
            raise ValueError("Deployment cannot have both env_file (%r) and env_name (%r)"
                             % (self.env_file, self.env_name))
        cmd = [g5k_configuration.get("kadeploy3"), g5k_configuration.get("kadeploy3_options") or ""]
        env_name, env_file = self.env_name, self.env_file
        if not env_name and not env_file:
            env_name = g5k_configuration.get("default_env_name")
            env_file = g5k_configuration.get("default_env_file")
            if env_name and env_file:
                raise ValueError("g5k_configuration cannot have both default_env_name (%r) and "
                                 "default_env_file (%r)" % (env_name, env_file))
            if not env_name and not env_file:
                raise ValueError("Deployment: no environment: give env_name or env_file, or set "
                                 "g5k_configuration['default_env_name'] or ['default_env_file']")
        if env_name:
            cmd.append("-e %s" % (shlex.quote(str(env_name)),))
        else:
            cmd.append("-a %s" % (shlex.quote(str(env_file)),))
        if self.user is not None:
            cmd.append("-u %s" % (shlex.quote(str(self.user)),))
        if self.vlan is not None:
            cmd.append("--vlan %s" % (shlex.quote(str(self.vlan)),))
        if self.other_options:
            cmd.append(self.other_options)
        return " ".join(part for part in cmd if part)

    def __repr__(self) -> str:
        s = ""
        for name in ("hosts", "env_file", "env_name", "user", "vlan"):
            if getattr(self, name) is not None:
                s = comma_join(s, "%s=%r" % (name, getattr(self, name)))
        if self.other_options:
            s = comma_join(s, "other_options=%r" % (self.other_options,))
        return "Deployment(%s)" % (s,)


class _KadeployStdoutHandler(ProcessOutputHandler):
    """Reads the final node lists of kadeploy3's stdout into the process and its Kadeployer."""

    _NONE, _DEPLOYED, _UNDEPLOYED = range(3)

    def __init__(self) -> None:
        super().__init__()
        self._section: Dict[int, int] = {}

    def read_line(self, process: Any, stream: int, string: str, eof: bool = False, error: bool = False) -> None:
        key = id(process)
        if any(r.search(string) for r in _DEPLOYED_HEADER_RES):
            self._section[key] = self._DEPLOYED
            process.kadeploy_headers_seen = True
            return
        if any(r.search(string) for r in _UNDEPLOYED_HEADER_RES):
            self._section[key] = self._UNDEPLOYED
            process.kadeploy_headers_seen = True
            return
        section = self._section.get(key, self._NONE)
        if section == self._DEPLOYED:
            match = _DEPLOYED_NODE_RE.search(string)
            if match:
                process.deployed_hosts.add(match.group(1))
                process.kadeployer.deployed_hosts.add(match.group(1))
        elif section == self._UNDEPLOYED:
            match = _UNDEPLOYED_NODE_RE.search(string)
            if match:
                process.undeployed_hosts.add(match.group(1))
                process.kadeployer.undeployed_hosts.add(match.group(1))


class FrontendPrefixWrapper(ProcessOutputHandler):
    """Hands each line to a user handler, prefixed with the frontend it came from."""

    def __init__(self, handler: Any) -> None:
        super().__init__()
        self.handler = handler

    def read_line(self, process: Any, stream: int, string: str, eof: bool = False, error: bool = False) -> None:
        handle_process_output(process, stream, self.handler,
                              "%s: %s" % (process.frontend or "localhost", string), eof, error)


def _get_host_frontend(host: Host) -> Optional[str]:
    """The site of ``x.<site>.grid5000.fr`` or ``x.<site>``; the default frontend for a short name."""
    for regex in _HOST_SITE_RES:
        match = regex.search(host.address)
        if match:
            return match.group(1)
    if _SHORT_HOST_RE.search(host.address):
        return get_default_frontend()
    raise ValueError("cannot tell the frontend (site) of host %r: expected <node>.<site>.grid5000.fr"
                     % (host.address,))


class _KadeployerEndLogger(ActionLifecycleHandler):
    def end(self, action: "Kadeployer") -> None:
        action._check_ok(log=True)


class Kadeployer(Action):
    """Runs kadeploy3 for a Deployment: one process per frontend (site), all at once.

    ``deployed_hosts`` and ``undeployed_hosts`` are sets of the addresses kadeploy3 listed as
    deployed or not (complete once the action has ended). ``ok`` also requires that kadeploy3
    listed each host exactly once and deployed at least one per frontend.
    """

    def __init__(self, deployment: Deployment, frontend_connection_params: Optional[Mapping[str, Any]] = None,
                 stdout_handlers: Any = None, stderr_handlers: Any = None, **action_kwargs: Any) -> None:
        super().__init__(**action_kwargs)
        if deployment.hosts is None:
            raise ValueError("Kadeployer: the deployment has no hosts: %r" % (deployment,))
        self.deployment = deployment
        self.frontend_connection_params = frontend_connection_params
        self._stdout_handlers = stdout_handlers
        self._stderr_handlers = stderr_handlers
        self.deployed_hosts: Set[str] = set()
        self.undeployed_hosts: Set[str] = set()
        self._timeout: Any = None
        self._unique_hosts = get_unique_hosts_list(singleton_to_collection(deployment.hosts))
        self._init_processes()
        self.lifecycle_handlers.append(_KadeployerEndLogger())
        if self._name is None:
            self._name = "%s on %i hosts / %i frontends" % (type(self).__name__, len(self._unique_hosts),
                                                           len(self._processes))

    @property
    def timeout(self) -> Any:
        """Timeout of each kadeploy3 process (None: none, the default as in execo 2.8)."""
        return self._timeout

    @timeout.setter
    def timeout(self, value: Any) -> None:
        self._timeout = value
        for process in self._processes:
            process.timeout = value

    def _init_processes(self) -> None:
        by_frontend: Dict[Optional[str], List[Host]] = {}
        for host in self._unique_hosts:
            by_frontend.setdefault(_get_host_frontend(host), []).append(host)
        common = self.deployment._get_common_kadeploy_command_line()
        parser = _KadeployStdoutHandler()
        self._processes = []
        for frontend, hosts in by_frontend.items():
            cmd = common + "".join(" -m %s" % (shlex.quote(h.address),) for h in hosts)
            stdout_handlers = [parser] + [FrontendPrefixWrapper(h) for h in
                                          singleton_to_collection(self._stdout_handlers or [])]
            stderr_handlers = [FrontendPrefixWrapper(h) for h in singleton_to_collection(self._stderr_handlers or [])]
            process = frontend_process(cmd, frontend, self.frontend_connection_params, timeout=None,
                                       stdout_handlers=stdout_handlers, stderr_handlers=stderr_handlers,
                                       nolog_exit_code=True, nolog_timeout=True, nolog_error=True)
            process.frontend = frontend
            process.kadeploy_hosts = [h.address for h in hosts]
            process.deployed_hosts = set()
            process.undeployed_hosts = set()
            process.kadeploy_headers_seen = False
            process.kadeployer = self
            self._processes.append(process)

    def reset(self) -> "Kadeployer":
        super().reset()
        self.deployed_hosts = set()
        self.undeployed_hosts = set()
        for process in self._processes:
            process.deployed_hosts = set()
            process.undeployed_hosts = set()
            process.kadeploy_headers_seen = False
        return self

    def _process_summary(self, process: Any, full: bool) -> str:
        text = "deploy on %s, total/deployed/undeployed = %i/%i/%i" % (
            process.frontend, len(process.kadeploy_hosts), len(process.deployed_hosts),
            len(process.undeployed_hosts))
        if full:
            text += ":\n%s\nstdout:\n%s\nstderr:\n%s" % (process, compact_output(process.stdout),
                                                         compact_output(process.stderr))
        return text

    def _check_ok(self, log: bool) -> bool:
        ok = True
        errors, warnings = [], []
        for process in self._processes:
            reported = process.deployed_hosts | process.undeployed_hosts
            if process.deployed_hosts & process.undeployed_hosts or reported != set(process.kadeploy_hosts):
                errors.append(self._process_summary(process, True))
                ok = False
            elif not process.deployed_hosts:
                warnings.append(self._process_summary(process, True))
                ok = False
            elif process.undeployed_hosts:
                warnings.append(self._process_summary(process, False))
        if log:
            if warnings:
                logger.warning("%s:\n%s", self.name, "\n".join(warnings))
            if errors:
                logger.error("%s:\n%s", self.name, "\n".join(errors))
        return ok

    @property
    def ok(self) -> bool:
        return (not self.ended or self._check_ok(False)) and super().ok

    def stats(self) -> Dict[str, Any]:
        stats = super().stats()
        stats["deployed_hosts"] = len(self.deployed_hosts)
        stats["undeployed_hosts"] = len(self.undeployed_hosts)
        return stats

    def __repr__(self) -> str:
        return "Kadeployer(%r, name=%r)" % (self.deployment, self.name)


class KadeployError(FrontendCommandError):
    """kadeploy3 could not run, refused the request (unknown environment, bad option, unknown
    node) or printed no node list that could be read. The message quotes the command, where it
    ran, how it failed and its output."""


def _raise_for_unusable(kadeployer: Kadeployer) -> None:
    """Turn a kadeploy3 run that tells nothing about the nodes into an error.

    A run that timed out is not an error (its nodes count as undeployed, and the next try may
    succeed); one that exited 0 but listed some of its nodes only is logged by the Kadeployer.
    """
    for process in kadeployer.processes:
        if process.timeouted:
            continue
        listed = process.deployed_hosts | process.undeployed_hosts
        if process.error or (process.exit_code not in (0, None) and not listed):
            raise KadeployError([process])
        if not process.kadeploy_headers_seen and not listed:
            raise KadeployError([process], "printed no list of deployed and undeployed nodes (output not "
                                           "understood)")


class EnoughDeployed:
    """A ``check_enough_func`` for "give me n good nodes": satisfied once n hosts are deployed.

    After deploy() returns, ``bad_hosts`` holds the hosts that could not be deployed (to
    replace them, e.g. with other nodes of a bigger reservation), ``missing`` how many more
    good nodes are needed (0 when satisfied) and ``satisfied`` whether n were reached.
    """

    def __init__(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError("enough_deployed: n must be a non-negative int, got %r" % (n,))
        self.n = n
        self.deployed_hosts: Set[str] = set()
        self.bad_hosts: Set[str] = set()

    def __call__(self, deployed: Iterable[str], undeployed: Iterable[str]) -> bool:
        self.deployed_hosts = set(deployed)
        self.bad_hosts = set(undeployed)
        return self.satisfied

    @property
    def satisfied(self) -> bool:
        return len(self.deployed_hosts) >= self.n

    @property
    def missing(self) -> int:
        return max(0, self.n - len(self.deployed_hosts))

    def __repr__(self) -> str:
        return "EnoughDeployed(n=%d, deployed=%d, bad=%d)" % (self.n, len(self.deployed_hosts), len(self.bad_hosts))


def enough_deployed(n: int) -> EnoughDeployed:
    """``deploy(..., check_enough_func=enough_deployed(n))`` stops as soon as n hosts are
    deployed; the returned object then tells the bad hosts and how many are missing."""
    return EnoughDeployed(n)


def _log_summary(tries: int, duration: float, reports: List[TryReport]) -> None:
    logger.detail(style.emph("deploy finished") + " in %i tries, %s", tries, format_seconds(duration))
    logger.detail("deploy  duration  attempted  deployed     deployed     total     total")
    logger.detail("                  deploys    as reported  as reported  already   still")
    logger.detail("                             by kadeploy  by check     deployed  undeployed")
    logger.detail("---------------------------------------------------------------------------")
    for r in reports:
        logger.detail("#%-5.5s  %-8.8s  %-9.9s  %-11.11s  %-11.11s  %-8.8s  %-10.10s",
                      r.index, format_seconds(r.duration), r.attempted, r.deployed_by_tool,
                      r.deployed_by_check, r.total_deployed, r.total_undeployed)


def deploy(deployment: Deployment, check_deployed_command: Any = True,
           node_connection_params: Optional[Mapping[str, Any]] = None, num_tries: int = 1,
           check_enough_func: Optional[Callable[[Set[str], Set[str]], bool]] = None,
           frontend_connection_params: Optional[Mapping[str, Any]] = None, deploy_timeout: Any = None,
           check_timeout: Any = 30, stdout_handlers: Any = None, stderr_handlers: Any = None,
           report_func: Optional[Callable[[TryReport], None]] = None) -> Tuple[Set[str], Set[str]]:
    """Deploy hosts, retrying those that fail; returns ``(deployed_hosts, undeployed_hosts)``,
    two sets of address strings.

    First ``check_deployed_command`` runs over ssh on every host (with
    ``node_connection_params``, default ``{'user': 'root'}``; on the kavlan names of the hosts
    when the deployment has a vlan): hosts where it exits 0 are already deployed. Then, while
    ``check_enough_func(deployed, undeployed)`` (default: no host left undeployed) is false and
    fewer than ``num_tries`` tries were made, the undeployed hosts are deployed with kadeploy3
    and checked again. The summary table is logged at DETAIL level.

    :param check_deployed_command: True for ``g5k_configuration['check_deployed_command']``, a
      string for another command, False or None to trust kadeploy3's report (then only hosts
      of the try that kadeploy3 listed as deployed count).
    :param report_func: called with a `TryReport` after each try (try 0 is the first check).
    :raise KadeployError: when kadeploy3 cannot run, refuses the request or prints nothing
      understandable (execo 2.8 went on silently). Whatever a try raises reaches the caller
      with ``deployed_hosts``, ``undeployed_hosts`` and ``reports`` attributes telling where
      the earlier tries got to.
    """
    if node_connection_params is None:
        node_connection_params = {"user": "root"}
    if isinstance(num_tries, bool) or not isinstance(num_tries, int) or num_tries < 0:
        raise ValueError("deploy: num_tries must be a non-negative int, got %r" % (num_tries,))
    if check_enough_func is None:
        check_enough_func = lambda deployed, undeployed: len(undeployed) == 0  # noqa: E731
    if check_deployed_command is True:
        check_deployed_command = g5k_configuration.get("check_deployed_command")
    hosts = [h.address for h in get_unique_hosts_list(singleton_to_collection(deployment.hosts or []))]
    deployment._get_common_kadeploy_command_line()  # a bad environment fails now, not in a try

    def deploy_hosts(to_deploy: Set[str]) -> Set[str]:
        try_deployment = copy.copy(deployment)
        try_deployment.hosts = sorted(to_deploy)
        kadeployer = Kadeployer(try_deployment, frontend_connection_params=frontend_connection_params,
                                stdout_handlers=stdout_handlers, stderr_handlers=stderr_handlers)
        kadeployer.timeout = deploy_timeout
        kadeployer.run()
        _raise_for_unusable(kadeployer)
        logger.debug(style.emph("kadeploy reported newly deployed hosts:") + " %s", kadeployer.deployed_hosts)
        return set(kadeployer.deployed_hosts)

    def check_hosts(to_check: Set[str]) -> Set[str]:
        return _check_deployed(to_check, check_deployed_command, node_connection_params, deployment.vlan,
                               check_timeout)

    start = time.time()
    try:
        result = run_supervised(hosts, deploy_hosts, check_hosts if check_deployed_command else None,
                                num_tries, check_enough_func, report_func)
    except DeploymentAborted as aborted:
        error = aborted.error
        error.deployed_hosts = aborted.deployed_hosts
        error.undeployed_hosts = aborted.undeployed_hosts
        error.reports = aborted.reports
        _log_summary(len(aborted.reports) - 1, time.time() - start, aborted.reports)
        raise error from None
    _log_summary(result.tries, time.time() - start, result.reports)
    logger.debug(style.emph("deployed hosts:") + " %s", result.deployed_hosts)
    logger.debug(style.emph("undeployed hosts:") + " %s", result.undeployed_hosts)
    if isinstance(check_enough_func, EnoughDeployed):  # it tells the final state, even when tries ran out
        check_enough_func(set(result.deployed_hosts), set(result.undeployed_hosts))
    return result.deployed_hosts, result.undeployed_hosts


def _check_deployed(hosts: Set[str], command: str, node_connection_params: Mapping[str, Any], vlan: Any,
                    timeout: Any) -> Set[str]:
    """The hosts where ``command`` exits 0 over ssh (reached by their kavlan name if vlan)."""
    if not hosts:
        return set()
    logger.debug(style.emph("check which hosts are deployed among:") + " %s", hosts)
    names = {(get_kavlan_host_name(h, vlan) if vlan else h): h for h in hosts}
    check = get_remote(command, sorted(names), connection_params=node_connection_params,
                       process_args={"nolog_exit_code": True, "nolog_timeout": True, "nolog_error": True,
                                     "timeout": timeout})
    check.run()
    deployed = set()
    for process in check.processes:
        host = names[process.host.address]
        logger.debug(style.emph("check on %s:" % (process.host,)) + " %s\n" % (process,)
                     + style.emph("stdout:") + "\n%s\n" % (process.stdout,)
                     + style.emph("stderr:") + "\n%s\n" % (process.stderr,))
        if process.ok:
            deployed.add(host)
    return deployed


class KaconsoleProcess:
    """A node's serial console: ``kaconsole3 <host>`` on its site's frontend, logged in.

    ``start()`` runs kaconsole3; ``wait_connected(timeout)`` goes through execo 2.8's steps
    (wait for "Connection to console ... opened", send ``\\x04\\n\\x04\\n``, answer
    ``login:`` and ``Password:``, wait for the prompt) and sets the ``console_connected`` event;
    then ``write()`` commands and ``expect_prompt()``; ``close()`` sends the ``&.`` escape.
    Every other attribute is the underlying process's (stdout, ok, kill, expect, ...).
    """

    def __init__(self, host: Any, frontend_connection_params: Optional[Mapping[str, Any]] = None,
                 connection_timeout: Any = 20, prompt: str = r"root@[^#]*#", login: str = "root",
                 password: str = "grid5000", **process_args: Any) -> None:
        self.host = Host(host)
        self.connection_timeout = connection_timeout
        self.prompt = prompt
        self._login = login
        self._password = password
        self.console_connected = threading.Event()
        self.process = frontend_process("kaconsole3 %s" % (shlex.quote(self.host.address),),
                                        _get_host_frontend(self.host), frontend_connection_params,
                                        timeout=process_args.pop("timeout", None), **process_args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["process"], name)

    def start(self) -> "KaconsoleProcess":
        self.process.start()
        return self

    def _step(self, regex: str, timeout: Any, what: str) -> None:
        index, _ = self.process.expect(regex, timeout=timeout)
        if index is None:
            raise KadeployError([self.process], "kaconsole3 on %s: no %s within %ss" % (self.host.address, what,
                                                                                        timeout))

    def wait_connected(self, timeout: Any = None) -> bool:
        """Log in on the console; True once the prompt shows. Raises KadeployError (quoting the
        console's output) when a step does not come within the timeout."""
        timeout = self.connection_timeout if timeout is None else timeout
        self._step(r"Connection to console .* opened", timeout, "console connection")
        self.process.write("\x04\n\x04\n")
        self._step(r"login: ", timeout, "login prompt")
        self.process.write(self._login + "\n")
        self._step(r"Password: ", timeout, "password prompt")
        self.process.write(self._password + "\n")
        self._step(self.prompt, timeout, "shell prompt")
        self.console_connected.set()
        return True

    def expect_prompt(self, timeout: Any = None) -> Tuple[Optional[int], Any]:
        return self.process.expect(self.prompt, timeout=timeout)

    def write(self, s: str) -> "KaconsoleProcess":
        self.process.write(s)
        return self

    def close(self) -> None:
        """Leave the console (the ``&.`` escape, followed by a newline so that it also reaches a
        line-buffered console) and wait for kaconsole3 to end."""
        if self.process.started and not self.process.ended:
            self.process.write("&.\n")
            self.process.wait(10)
            if not self.process.ended:
                self.process.kill()
                self.process.wait()
