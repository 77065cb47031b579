"""OAR jobs: submit, follow, read the nodes of, extend and delete them (execo 2.8's execo_g5k.oar).

Every command runs on a site's frontend (see ``execo_g5k.frontend``), in parallel when there
are several. A job is named by ``(job_id, frontend)``, frontend None meaning the default one.

Deliberate differences from execo 2.8, each for safety or clearer failures:

- Values are quoted for the shell with ``shlex`` rules: a job name, property, directory,
  command or key file cannot break out of its argument. Plain values keep 2.8's double quotes.
- Job types keep their given order (2.8 went through a set), any iterable is accepted (2.8
  raised TypeError on a tuple), and ``origin=execo`` is added once.
- Bad input (walltime, date, resources, job id) raises before anything is submitted.
- A command that fails or prints what cannot be read raises ``FrontendCommandError`` (a
  ``ProcessesFailed``) quoting the command, the frontend and the output; ``get_oar_job_info``
  of an unknown job raises ``OarJobNotFound`` where 2.8 returned {}.
- ``oarsub`` returns ``OarJobResult`` tuples (still ``(job_id, frontend)``) that carry the
  reason of a failure in ``.error``; a refused submission that still created a job (a
  reservation in the past) has that job deleted; with abort_on_error, the jobs already
  submitted are deleted before the exception is raised.
- ``oardel`` sends one ``oardel`` per frontend with all its ids.
- Dates use zoneinfo (``g5k_configuration['oar_timezone']``, default Europe/Paris), no fork.

Beyond 2.8: ``get_job_by_name``, ``get_oar_job_walltime_status``, ``extend_oar_job_walltime``.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from execo.log import logger
from execo.host import Host
from execo.time_utils import Timer, get_seconds, get_unixts, sleep
from execo.utils import checked_min, singleton_to_collection

from .config import g5k_configuration
from .frontend import FrontendCommandError, process_stdout, resolve_timeout, run_frontend_commands
from .oar_dates import format_oar_date, format_oar_duration, oar_date_to_unixts, oar_duration_to_seconds
from .oar_parsing import (OarOutputError, job_info_from_fields, parse_kavlan_ids, parse_node_list, parse_oarstat_full,
                          parse_oarstat_ids, parse_oarsub_job_ids, parse_oarwalltime_request,
                          parse_oarwalltime_status, parse_subnets_addresses, parse_subnets_parameters)
from .oar_submission import OarSubmission

__all__ = ["OarSubmission", "OarJobResult", "OarJobNotFound", "FrontendCommandError", "get_oarsub_commandline",
           "oarsub", "oardel", "get_current_oar_jobs", "get_oar_job_info", "wait_oar_job_start",
           "get_oar_job_nodes", "get_oar_job_subnets", "get_oar_job_kavlan", "oarsubgrid", "get_job_by_name",
           "get_oar_job_walltime_status", "extend_oar_job_walltime", "format_oar_date", "format_oar_duration",
           "oar_date_to_unixts", "oar_duration_to_seconds"]

DEFAULT_JOB_COMMAND = "sleep 31536000"
EXECO_JOB_TYPE = "origin=execo"
_FINISHED_STATES = ("Terminated", "Error")
_DOUBLE_QUOTE_SAFE_RE = re.compile(r'^[^"$`\\!\n\r]*$')
_MAX_POLL_FAILURES = 3


class OarJobNotFound(FrontendCommandError):
    """OAR does not know this job id (``oarstat -fj ID`` printed nothing)."""


class OarJobResult(tuple):
    """``(job_id, frontend)`` as execo 2.8 returns it, plus ``error``: why job_id is None, else None."""

    def __new__(cls, job_id: Optional[int], frontend: Any, error: Optional[str] = None) -> "OarJobResult":
        result = tuple.__new__(cls, (job_id, frontend))
        result.error = error
        return result

    @property
    def job_id(self) -> Optional[int]:
        return self[0]

    @property
    def frontend(self) -> Any:
        return self[1]


# -- command lines ---------------------------------------------------------------------------

def _quote(value: str) -> str:
    """One shell word: 2.8's double quotes when nothing in it is special there, else shlex's quoting."""
    if value and _DOUBLE_QUOTE_SAFE_RE.match(value):
        return '"%s"' % (value,)
    return shlex.quote(value)


def _text_field(spec: Any, field: str) -> Optional[str]:
    value = getattr(spec, field, None)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("OarSubmission.%s must be a string, got %r" % (field, value))
    return value


def _strings(spec: Any, field: str) -> List[str]:
    value = getattr(spec, field, None)
    items = list(singleton_to_collection(value))
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError("OarSubmission.%s must be a non-empty string or an iterable of them, got %r"
                             % (field, value))
    return items


def get_oarsub_commandline(job_spec: Any) -> str:
    """The oarsub command line of an OarSubmission, in execo 2.8's order.

    ``additional_options`` is inserted as is (it is several options by design); every other
    value is one quoted shell word.
    """
    cmdline = ["oarsub"]
    options = _text_field(job_spec, "additional_options")
    if options:
        cmdline.append(options)
    resources = _strings(job_spec, "resources")
    walltime = None
    if job_spec.walltime is not None:
        try:
            walltime = format_oar_duration(job_spec.walltime)
        except (TypeError, ValueError) as error:
            raise ValueError("OarSubmission.walltime %r is not a duration: %s" % (job_spec.walltime, error)) from None
    if resources:
        request = "+".join(resources) + (",walltime=" + walltime if walltime else "")
        cmdline.append("-l " + _quote(request))
    elif walltime:
        cmdline.append("-l " + _quote("walltime=" + walltime))
    key = g5k_configuration.get("oar_job_key_file") or os.environ.get("OAR_JOB_KEY_FILE")
    if key:
        cmdline.append("-k -i " + _quote(str(key)))
    job_types = []
    for job_type in _strings(job_spec, "job_type") + [EXECO_JOB_TYPE]:
        if job_type not in job_types:
            job_types.append(job_type)
    cmdline.extend("-t " + _quote(t) for t in job_types)
    for field, option in (("sql_properties", "-p"), ("queue", "-q")):
        value = _text_field(job_spec, field)
        if value is not None:
            cmdline.append(option + " " + _quote(value))
    if job_spec.reservation_date is not None:
        try:
            date = format_oar_date(job_spec.reservation_date)
        except (TypeError, ValueError) as error:
            raise ValueError("OarSubmission.reservation_date %r is not a date: %s"
                             % (job_spec.reservation_date, error)) from None
        cmdline.append("-r " + _quote(date))
    for field, option in (("directory", "-d"), ("project", "--project"), ("name", "-n")):
        value = _text_field(job_spec, field)
        if value is not None:
            if field != "directory" and "'" in value:
                # OAR 2.5 puts them unescaped in SQL: oarsub fails with "please verify your request syntax"
                raise ValueError("OarSubmission.%s %r: OAR cannot store a single quote in a job %s"
                                 % (field, value, field))
            cmdline.append(option + " " + _quote(value))
    command = _text_field(job_spec, "command")
    cmdline.append(_quote(command if command is not None else DEFAULT_JOB_COMMAND))
    return " ".join(cmdline)


def _job_id(oar_job_id: Any) -> int:
    """A job id as an int: given, or $OAR_JOB_ID (execo 2.8's default)."""
    if oar_job_id is None:
        oar_job_id = os.environ.get("OAR_JOB_ID")
        if oar_job_id is None:
            raise ValueError("no oar job id given and no OAR_JOB_ID environment variable found")
    if isinstance(oar_job_id, bool):
        raise ValueError("invalid OAR job id %r" % (oar_job_id,))
    try:
        job_id = int(str(oar_job_id).strip())
    except ValueError:
        raise ValueError("invalid OAR job id %r: expected a positive integer" % (oar_job_id,)) from None
    if job_id <= 0:
        raise ValueError("invalid OAR job id %r: expected a positive integer" % (oar_job_id,))
    return job_id


def _job_specs(job_specs: Any, owner: str) -> List[Tuple[Any, Any]]:
    try:
        specs = [tuple(spec) for spec in job_specs]
    except TypeError:
        raise TypeError("%s: job_specs must be an iterable of (item, frontend) pairs, got %r"
                        % (owner, job_specs)) from None
    for spec in specs:
        if len(spec) != 2:
            raise TypeError("%s: each job spec must be an (item, frontend) pair, got %r" % (owner, spec))
    return specs


# -- submission and deletion -----------------------------------------------------------------

def _submission_outcome(process: Any) -> Tuple[Optional[int], Optional[str], List[int]]:
    """(job id, error, ids of jobs created anyway) from a finished oarsub process."""
    ids = parse_oarsub_job_ids(process_stdout(process))
    created = [i for i in ids if i > 0]
    if process.ok and process.exit_code == 0:
        if created:
            return created[0], None, created[1:]
        return None, FrontendCommandError([process], "no OAR_JOB_ID=<id> line in the output").message, []
    return None, FrontendCommandError([process]).message, created


def oarsub(job_specs: Iterable[Tuple[OarSubmission, Any]], frontend_connection_params: Optional[Mapping[str, Any]] = None,
           timeout: Any = False, abort_on_error: bool = False) -> List[OarJobResult]:
    """Submit ``(OarSubmission, frontend)`` pairs, all at once; returns ``(job_id, frontend)`` in the same order.

    job_id is None where the submission failed, and the result's ``error`` says why (the
    command, the frontend and OAR's words); each failure is also logged. A frontend that does
    not answer within ``timeout`` (False: ``default_timeout``) fails alone. With
    ``abort_on_error``, any failure deletes the jobs already submitted and raises
    FrontendCommandError (a ProcessesFailed) about the failed submissions.
    """
    specs = _job_specs(job_specs, "oarsub")
    commands = []
    for spec, frontend in specs:
        commands.append((get_oarsub_commandline(spec), frontend))  # every spec is checked before any submission
    if not commands:
        return []
    processes = run_frontend_commands(commands, frontend_connection_params, timeout,
                                      nolog_exit_code=True, nolog_timeout=True, nolog_error=True)
    results, failed, strays = [], [], []
    for process, (_, frontend) in zip(processes, specs):
        job_id, error, extra = _submission_outcome(process)
        strays.extend((i, frontend) for i in extra)
        if error is not None:
            failed.append(process)
            if process.timeouted:
                error += "\n(the submission timed out: a job may have been created without its id being known)"
            if not abort_on_error:
                logger.warning("oarsub failed: %s", error)
        results.append(OarJobResult(job_id, frontend, error))
    if strays:
        logger.warning("oarsub: deleting jobs that failed submissions created anyway: %s", strays)
        oardel(strays, frontend_connection_params, timeout)
    if failed and abort_on_error:
        submitted = [(r.job_id, r.frontend) for r in results if r.job_id is not None]
        if submitted:
            logger.warning("oarsub: a submission failed, deleting the jobs already submitted: %s", submitted)
            oardel(submitted, frontend_connection_params, timeout)
        raise FrontendCommandError(failed)
    return results


def oardel(job_specs: Iterable[Tuple[Any, Any]], frontend_connection_params: Optional[Mapping[str, Any]] = None,
           timeout: Any = False) -> None:
    """Delete ``(job_id, frontend)`` jobs; OAR's refusals (unknown, finished, not yours) are ignored.

    Pairs whose job_id is None (failed submissions) are skipped. One ``oardel`` runs per
    frontend, all frontends at once.
    """
    by_frontend: Dict[Any, List[int]] = {}
    order: List[Any] = []
    for job_id, frontend in _job_specs(job_specs, "oardel"):
        if job_id is None:
            continue
        key = frontend
        if key not in by_frontend:
            by_frontend[key] = []
            order.append(key)
        job_id = _job_id(job_id)
        if job_id not in by_frontend[key]:
            by_frontend[key].append(job_id)
    commands = [("oardel " + " ".join(str(i) for i in by_frontend[f]), f) for f in order]
    if commands:
        run_frontend_commands(commands, frontend_connection_params, timeout, nolog_exit_code=True)


def oarsubgrid(job_specs: Iterable[Tuple[OarSubmission, Any]], reservation_date: Any = None, walltime: Any = None,
               job_type: Any = None, queue: Any = None, directory: Any = None, additional_options: Any = None,
               frontend_connection_params: Optional[Mapping[str, Any]] = None, timeout: Any = False) -> List[OarJobResult]:
    """Submit on several frontends at once, all or nothing (execo 2.8's oargridsub without oargrid).

    reservation_date, walltime, job_type, queue, directory and additional_options overwrite
    those of every spec. If one submission fails, the others are deleted and [] is returned.
    """
    specs = _job_specs(job_specs, "oarsubgrid")
    for spec, _ in specs:
        spec.reservation_date = reservation_date
        spec.walltime = walltime
        spec.job_type = job_type
        spec.queue = queue
        spec.directory = directory
        spec.additional_options = additional_options
    jobs = oarsub(specs, frontend_connection_params, timeout)
    if any(job.job_id is None for job in jobs):
        submitted = [job for job in jobs if job.job_id is not None]
        if submitted:
            logger.warning("oarsubgrid: a submission failed, deleting the others: %s", submitted)
            oardel(submitted, frontend_connection_params, timeout)
        return []
    return jobs


# -- state ------------------------------------------------------------------------------------

def _run_one(cmd: str, frontend: Any, frontend_connection_params: Optional[Mapping[str, Any]], timeout: Any,
             **flags: Any) -> Any:
    return run_frontend_commands([(cmd, frontend)], frontend_connection_params, timeout, **flags)[0]


def _date_in_range(date: Optional[float], date_range: Optional[Sequence[Optional[float]]]) -> bool:
    if date_range is None:
        return True
    if date is None:
        return False
    if date_range[0] is not None and date < date_range[0]:
        return False
    if date_range[1] is not None and date > date_range[1]:
        return False
    return True


def get_current_oar_jobs(frontends: Optional[Iterable[Any]] = None, start_between: Any = None, end_between: Any = None,
                         frontend_connection_params: Optional[Mapping[str, Any]] = None, timeout: Any = False,
                         abort_on_error: bool = False) -> List[Tuple[int, Any]]:
    """``(job_id, frontend)`` of the caller's unfinished jobs on each frontend (None: the default one).

    start_between / end_between: (low, high) dates (either may be None) that the job's start
    / end (start + walltime) must fall in; each job's info is then read. A frontend that
    fails is logged and skipped, or raises FrontendCommandError with abort_on_error.
    """
    start_range = [get_unixts(t) for t in start_between] if start_between else None
    end_range = [get_unixts(t) for t in end_between] if end_between else None
    frontends = [None] if frontends is None else list(frontends)
    processes = run_frontend_commands([("oarstat -u", f) for f in frontends], frontend_connection_params, timeout,
                                      nolog_exit_code=True, nolog_timeout=True, nolog_error=True)
    jobs: List[Tuple[int, Any]] = []
    failed = []
    for process, frontend in zip(processes, frontends):
        if process.ok:
            jobs.extend((job_id, frontend) for job_id in parse_oarstat_ids(process_stdout(process)))
        else:
            failed.append(process)
    if failed:
        error = FrontendCommandError(failed)
        if abort_on_error:
            raise error
        logger.warning("get_current_oar_jobs: %s", error.message)
    if start_range or end_range:
        selected = []
        for job_id, frontend in jobs:
            info = get_oar_job_info(job_id, frontend, frontend_connection_params, timeout)
            start = info.get("start_date", info.get("scheduled_start"))
            end = start + info["walltime"] if start is not None and "walltime" in info else None
            if _date_in_range(start, start_range) and _date_in_range(end, end_range):
                selected.append((job_id, frontend))
        jobs = selected
    return jobs


def _full_info(process: Any) -> List[Dict[str, Any]]:
    try:
        return [job_info_from_fields(fields) for fields in parse_oarstat_full(process_stdout(process))]
    except (OarOutputError, ValueError) as error:
        raise FrontendCommandError([process], "unreadable output (%s)" % (error,)) from None


def get_oar_job_info(oar_job_id: Any = None, frontend: Any = None,
                     frontend_connection_params: Optional[Mapping[str, Any]] = None, timeout: Any = False,
                     nolog_exit_code: bool = False, nolog_timeout: bool = False,
                     nolog_error: bool = False) -> Dict[str, Any]:
    """What ``oarstat -fj`` says of a job (keys: see ``oar_parsing.job_info_from_fields``).

    execo 2.8's keys: start_date, walltime, scheduled_start, state, name (each only when OAR
    printed it). Raises OarJobNotFound for an unknown job, FrontendCommandError when oarstat
    fails or prints something unreadable.
    """
    job_id = _job_id(oar_job_id)
    process = _run_one("oarstat -fj %d" % (job_id,), frontend, frontend_connection_params, timeout,
                       nolog_exit_code=nolog_exit_code, nolog_timeout=nolog_timeout, nolog_error=nolog_error)
    if not process.ok:
        raise FrontendCommandError([process])
    if not process_stdout(process).strip():
        raise OarJobNotFound([process], "OAR knows no job %d (oarstat printed nothing)" % (job_id,))
    jobs = _full_info(process)
    for info in jobs:
        if info["job_id"] == job_id:
            return info
    raise FrontendCommandError([process], "no 'Job_Id: %d' in the output" % (job_id,))


def wait_oar_job_start(oar_job_id: Any = None, frontend: Any = None,
                       frontend_connection_params: Optional[Mapping[str, Any]] = None, timeout: Any = None,
                       prediction_callback: Optional[Callable[[float], Any]] = None) -> bool:
    """Sleep until the job runs: True once it is Running, False if it ended first or on timeout.

    Polls every ``polling_interval``, sleeps until the predicted start when it is nearer, and
    every ``tiny_polling_interval`` once past it. ``prediction_callback(unix_ts)`` is called
    each time the predicted start changes (the first prediction included). A frontend that
    fails three polls in a row raises FrontendCommandError; an unknown job, OarJobNotFound
    (execo 2.8 polled on until the timeout in both cases).
    """
    job_id = _job_id(oar_job_id)
    prediction = None
    countdown = Timer(timeout)
    failures = 0
    while countdown.remaining() is None or countdown.remaining() > 0:
        poll_timeout = checked_min(resolve_timeout(False), countdown.remaining())
        try:
            info = get_oar_job_info(job_id, frontend, frontend_connection_params, poll_timeout,
                                    nolog_exit_code=True, nolog_timeout=True, nolog_error=True)
        except OarJobNotFound:
            raise
        except FrontendCommandError as error:
            failures += 1
            if failures >= _MAX_POLL_FAILURES:
                raise
            logger.warning("wait_oar_job_start: polling job %d failed (%d/%d): %s",
                           job_id, failures, _MAX_POLL_FAILURES, error.message)
            sleep(checked_min(g5k_configuration.get("tiny_polling_interval"), countdown.remaining()))
            continue
        failures = 0
        now = time.time()
        new_prediction = info.get("start_date", info.get("scheduled_start"))
        if new_prediction is not None and new_prediction != prediction:
            prediction = new_prediction
            if prediction_callback is not None:
                prediction_callback(prediction)
        state = info.get("state")
        if state in _FINISHED_STATES:
            return False
        if state == "Running":
            return True
        if new_prediction is not None:
            if now >= new_prediction:
                sleep(checked_min(g5k_configuration.get("tiny_polling_interval"), countdown.remaining()))
                continue
            if now + g5k_configuration.get("polling_interval") > new_prediction:
                remaining = countdown.remaining()
                sleep(until=checked_min(new_prediction, now + remaining if remaining is not None else None))
                continue
        sleep(checked_min(g5k_configuration.get("polling_interval"), countdown.remaining()))
    return False


def _started_job_command(job_id: int, command: str) -> str:
    """``command`` guarded as execo 2.8 does: it runs only once the job has started (or ended)."""
    return ("(oarstat -sj %d | grep 'Running\\|Terminated\\|Error') > /dev/null 2>&1 && %s" % (job_id, command))


def _not_started_problem(process: Any, job_id: int) -> Optional[str]:
    if process.exit_code == 1 and not process_stdout(process).strip():
        return "job %d has not started (its state is not Running, Terminated or Error)" % (job_id,)
    return None


def get_oar_job_nodes(oar_job_id: Any = None, frontend: Any = None,
                      frontend_connection_params: Optional[Mapping[str, Any]] = None,
                      timeout: Any = False) -> List[Host]:
    """The hosts of a job (sorted), once it has started; waits for the start within ``timeout``.

    A job that ended without running has no hosts: []. Raises FrontendCommandError (a
    ProcessesFailed, as in 2.8) when the job has not started in time or the command fails.
    """
    job_id = _job_id(oar_job_id)
    countdown = Timer(resolve_timeout(timeout))
    wait_oar_job_start(job_id, frontend, frontend_connection_params, countdown.remaining())
    cmd = _started_job_command(job_id, "oarstat -pj %d | oarprint network_address -f - | sort" % (job_id,))
    process = _run_one(cmd, frontend, frontend_connection_params, _positive(countdown.remaining()),
                       nolog_exit_code=True, nolog_timeout=True, nolog_error=True)
    if not process.ok:
        raise FrontendCommandError([process], _not_started_problem(process, job_id))
    return [Host(address) for address in parse_node_list(process_stdout(process))]


def _positive(remaining: Optional[float]) -> Optional[float]:
    """A process timeout from a countdown: at least a little, so that a late call still gets an answer."""
    return None if remaining is None else max(remaining, 1.0)


def get_oar_job_subnets(oar_job_id: Any = None, frontend: Any = None,
                        frontend_connection_params: Optional[Mapping[str, Any]] = None,
                        timeout: Any = False) -> Tuple[List[Tuple[str, str]], Dict[str, str]]:
    """([(ip, mac), ...], {ip_prefix, broadcast, netmask, gateway, network, dns_hostname, dns_ip}) of a job.

    Runs ``g5k-subnets`` on the frontend once the job has started; the dict is {} when the job
    has no subnet. Raises FrontendCommandError when a command fails (for instance where
    g5k-subnets is not installed) or prints unreadable lines.
    """
    job_id = _job_id(oar_job_id)
    countdown = Timer(resolve_timeout(timeout))
    wait_oar_job_start(job_id, frontend, frontend_connection_params, countdown.remaining())
    processes = run_frontend_commands(
        [(_started_job_command(job_id, "g5k-subnets -i -m -j %d" % (job_id,)), frontend),
         (_started_job_command(job_id, "g5k-subnets -a -j %d" % (job_id,)), frontend)],
        frontend_connection_params, _positive(countdown.remaining()),
        nolog_exit_code=True, nolog_timeout=True, nolog_error=True)
    failed = [p for p in processes if not p.ok]
    if failed:
        raise FrontendCommandError(failed, _not_started_problem(failed[0], job_id))
    process_ip, process_net = processes
    try:
        addresses = parse_subnets_addresses(process_stdout(process_ip))
    except OarOutputError as error:
        raise FrontendCommandError([process_ip], "unreadable output (%s)" % (error,)) from None
    return addresses, parse_subnets_parameters(process_stdout(process_net))


def get_oar_job_kavlan(oar_job_id: Any = None, frontend: Any = None,
                       frontend_connection_params: Optional[Mapping[str, Any]] = None,
                       timeout: Any = False) -> List[int]:
    """The kavlan ids of a job ([] when it has none), from ``kavlan -j ID -V`` once it has started.

    kavlan's exit code is not an error (it fails for a job without vlan), as in 2.8; but a
    missing kavlan command, a timeout or an unreachable frontend raise FrontendCommandError
    where 2.8 returned an empty answer.
    """
    job_id = _job_id(oar_job_id)
    countdown = Timer(resolve_timeout(timeout))
    wait_oar_job_start(job_id, frontend, frontend_connection_params, countdown.remaining())
    process = _run_one("kavlan -j %d -V" % (job_id,), frontend, frontend_connection_params,
                       _positive(countdown.remaining()), ignore_exit_code=True, nolog_exit_code=True,
                       nolog_timeout=True, nolog_error=True)
    if not process.ok:
        raise FrontendCommandError([process])
    if process.exit_code in (126, 127) or (process.host is not None and process.exit_code == 255):
        raise FrontendCommandError([process], "exited with code %s" % (process.exit_code,))
    return parse_kavlan_ids(process_stdout(process))


# -- beyond execo 2.8 -------------------------------------------------------------------------

def get_job_by_name(name: str, frontend: Any = None, frontend_connection_params: Optional[Mapping[str, Any]] = None,
                    timeout: Any = False) -> Optional[int]:
    """The id of the caller's newest unfinished job called ``name`` on ``frontend``, or None.

    Lets a restarted campaign find its reservation again instead of submitting a new one.
    One ``oarstat -u -f`` reads every current job of the user.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("get_job_by_name: name must be a non-empty string, got %r" % (name,))
    process = _run_one("oarstat -u -f", frontend, frontend_connection_params, timeout,
                       nolog_exit_code=True, nolog_timeout=True, nolog_error=True)
    if not process.ok:
        raise FrontendCommandError([process])
    matching = [info["job_id"] for info in _full_info(process)
                if info.get("name") == name and info.get("state") not in _FINISHED_STATES]
    return max(matching) if matching else None


def get_oar_job_walltime_status(oar_job_id: Any = None, frontend: Any = None,
                                frontend_connection_params: Optional[Mapping[str, Any]] = None,
                                timeout: Any = False) -> Dict[str, Any]:
    """``oarwalltime ID``: {walltime, possible_increase (None: unlimited), granted, pending}, in seconds.

    Raises FrontendCommandError when the server does not allow walltime changes.
    """
    job_id = _job_id(oar_job_id)
    process = _run_one("oarwalltime %d" % (job_id,), frontend, frontend_connection_params, timeout,
                       nolog_exit_code=True, nolog_timeout=True, nolog_error=True)
    try:
        status = parse_oarwalltime_status(process_stdout(process))
    except (OarOutputError, ValueError) as error:
        raise FrontendCommandError([process], str(error)) from None
    if not process.ok:
        raise FrontendCommandError([process])
    return status


def extend_oar_job_walltime(oar_job_id: Any, extra: Any, frontend: Any = None,
                            frontend_connection_params: Optional[Mapping[str, Any]] = None,
                            timeout: Any = False) -> None:
    """Ask OAR (``oarwalltime ID +H:M:S``) for ``extra`` more walltime for a job.

    OAR grants it shortly after accepting the request (see get_oar_job_walltime_status).
    Raises FrontendCommandError, with OAR's words, when the request is refused.
    """
    job_id = _job_id(oar_job_id)
    try:
        seconds = get_seconds(extra)
    except (TypeError, ValueError) as error:
        raise ValueError("extend_oar_job_walltime: extra %r is not a duration: %s" % (extra, error)) from None
    if seconds is None or seconds <= 0:
        raise ValueError("extend_oar_job_walltime: extra must be a positive duration, got %r" % (extra,))
    process = _run_one("oarwalltime %d %s" % (job_id, shlex.quote("+" + format_oar_duration(seconds))), frontend,
                       frontend_connection_params, timeout, nolog_exit_code=True, nolog_timeout=True, nolog_error=True)
    if not process.ok:
        raise FrontendCommandError([process])
    try:
        parse_oarwalltime_request(process_stdout(process))
    except OarOutputError as error:
        raise FrontendCommandError([process], str(error)) from None
