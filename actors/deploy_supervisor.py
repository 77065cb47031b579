"""The deployment supervisor: one actor per deploy() call, owning its retries.

execo 2.8's deploy() was a loop in the caller's thread. Here the loop is an actor: each try
is one message, so between tries the supervisor answers questions (which try, which hosts
are still undeployed) and hears a cancel, and a try that raises stops the campaign with
what was already deployed attached to the error instead of losing it.

The supervisor knows nothing of kadeploy or ssh: it is given two functions, ``deploy_hosts``
(run one deployment on some hosts, return those the deployment tool says it deployed) and
``check_hosts`` (return those of some hosts that really are deployed, or None to trust the
tool), plus ``enough(deployed, undeployed)``. A host counts as deployed only when the check
says so (or, without a check, when the tool reported it and it was part of the try).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, FrozenSet, Iterable, List, Optional, Set

import pykka

log = logging.getLogger("execo")

DeployFunc = Callable[[Set[str]], Set[str]]
CheckFunc = Callable[[Set[str]], Optional[Set[str]]]
EnoughFunc = Callable[[Set[str], Set[str]], bool]


@dataclass(frozen=True)
class TryReport:
    """What one try did; try 0 is the check made before any deployment.

    The numbers are those of execo 2.8's summary table; None where they do not apply
    (try 0 deploys nothing)."""

    index: int
    duration: float
    attempted: Optional[int]
    deployed_by_tool: Optional[int]
    deployed_by_check: Optional[int]
    total_deployed: int
    total_undeployed: int
    newly_deployed: FrozenSet[str] = field(default_factory=frozenset)
    failed: FrozenSet[str] = field(default_factory=frozenset)


class DeploymentAborted(Exception):
    """A try raised: the campaign stops. ``deployed_hosts``, ``undeployed_hosts`` and ``reports``
    say where it stood; ``__cause__`` is the error of the try."""

    def __init__(self, error: BaseException, deployed: Set[str], undeployed: Set[str],
                 reports: List[TryReport]) -> None:
        super().__init__(str(error))
        self.error = error
        self.deployed_hosts = set(deployed)
        self.undeployed_hosts = set(undeployed)
        self.reports = list(reports)


@dataclass
class SupervisorResult:
    deployed_hosts: Set[str]
    undeployed_hosts: Set[str]
    tries: int
    reports: List[TryReport]
    cancelled: bool = False


class DeploySupervisor(pykka.ThreadingActor):
    """Deploys, checks, redeploys only the hosts that failed, up to ``num_tries`` times.

    Messages: ``("status",)`` answers a :class:`SupervisorResult` snapshot; ``("cancel",)``
    stops after the try under way. The final result (or a :class:`DeploymentAborted`) goes to
    the ``result`` future given at construction; ``on_report(TryReport)`` is called after
    each try, in the supervisor's thread.
    """

    use_daemon_thread = True

    def __init__(self, hosts: Iterable[str], deploy_hosts: DeployFunc, check_hosts: Optional[CheckFunc],
                 num_tries: int, enough: EnoughFunc, result: pykka.Future,
                 on_report: Optional[Callable[[TryReport], None]] = None) -> None:
        super().__init__()
        self._deploy_hosts = deploy_hosts
        self._check_hosts = check_hosts
        self._num_tries = num_tries
        self._enough = enough
        self._result = result
        self._on_report = on_report
        self.undeployed: Set[str] = set(hosts)
        self.deployed: Set[str] = set()
        self.reports: List[TryReport] = []
        self.tries = 0
        self._cancelled = False
        self._finished = False

    def on_start(self) -> None:
        self.actor_ref.tell(("initial_check",))

    def on_receive(self, message: Any) -> Any:
        kind = message[0]
        if kind == "status":
            return self._snapshot()
        if kind == "cancel":
            self._cancelled = True
            return None
        if self._finished:
            return None
        try:
            if kind == "initial_check":
                self._initial_check()
            elif kind == "try":
                self._one_try()
            else:
                raise ValueError("DeploySupervisor: unknown message %r" % (message,))
        except BaseException as error:  # the caller gets it through the future, with the progress
            aborted = DeploymentAborted(error, self.deployed, self.undeployed, self.reports)
            aborted.__cause__ = error
            self._finish(error=aborted)
            return None
        if self._should_stop():
            self._finish()
        else:
            self.actor_ref.tell(("try",))
        return None

    # -- the steps ------------------------------------------------------------------------
    def _initial_check(self) -> None:
        start = time.time()
        newly: Set[str] = set()
        if self._check_hosts is not None:
            newly = self._only_asked(self._check_hosts(set(self.undeployed)), self.undeployed, "check")
            self._update(newly)
        self._report(TryReport(0, time.time() - start, None, None, len(newly), len(self.deployed),
                               len(self.undeployed), frozenset(newly), frozenset()))

    def _one_try(self) -> None:
        self.tries += 1
        start = time.time()
        attempted = set(self.undeployed)
        log.debug("deploy try %d on %d hosts: %s", self.tries, len(attempted), sorted(attempted))
        by_tool = self._only_asked(self._deploy_hosts(set(attempted)), attempted, "deployment")
        if self._check_hosts is not None:
            newly = self._only_asked(self._check_hosts(set(attempted)), attempted, "check")
        else:
            newly = set(by_tool)
        self._update(newly)
        self._report(TryReport(self.tries, time.time() - start, len(attempted), len(by_tool), len(newly),
                               len(self.deployed), len(self.undeployed), frozenset(newly),
                               frozenset(attempted - newly)))

    @staticmethod
    def _only_asked(hosts: Optional[Iterable[str]], asked: Set[str], what: str) -> Set[str]:
        """A tool naming a host it was not asked about must not make that host count."""
        hosts = set(hosts or ())
        extra = hosts - asked
        if extra:
            log.warning("the %s reported hosts it was not given, ignored: %s", what, sorted(extra))
        return hosts & asked

    def _update(self, newly: Set[str]) -> None:
        self.deployed |= newly
        self.undeployed -= newly

    def _report(self, report: TryReport) -> None:
        self.reports.append(report)
        if self._on_report is not None:
            try:
                self._on_report(report)
            except Exception:
                log.exception("error in the deploy report callback %r", self._on_report)

    def _should_stop(self) -> bool:
        if self._cancelled or self.tries >= self._num_tries:
            return True
        return bool(self._enough(set(self.deployed), set(self.undeployed)))

    def _snapshot(self) -> SupervisorResult:
        return SupervisorResult(set(self.deployed), set(self.undeployed), self.tries, list(self.reports),
                                self._cancelled)

    def _finish(self, error: Optional[BaseException] = None) -> None:
        self._finished = True
        if error is None:
            self._result.set(self._snapshot())
        else:
            self._result.set_exception((type(error), error, error.__traceback__))
        self.stop()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        if not self._finished:
            self._finished = True
            self._result.set_exception((exception_type, exception_value, traceback))


def run_supervised(hosts: Iterable[str], deploy_hosts: DeployFunc, check_hosts: Optional[CheckFunc],
                   num_tries: int, enough: EnoughFunc,
                   on_report: Optional[Callable[[TryReport], None]] = None,
                   timeout: Optional[float] = None) -> SupervisorResult:
    """Start a supervisor and block until it is done (the blocking facade's entry point)."""
    result: pykka.Future = pykka.ThreadingFuture()
    ref = DeploySupervisor.start(hosts, deploy_hosts, check_hosts, num_tries, enough, result, on_report)
    try:
        return result.get(timeout=timeout)
    finally:
        if ref.is_alive():
            ref.tell(("cancel",))
            ref.stop(block=False)
