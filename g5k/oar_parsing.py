"""Readers of what OAR's commands print (OAR 2.5 text formats), kept apart from running them.

Each reader takes the text and returns plain values, or raises OarOutputError saying what it
expected; the callers add which command printed it. Carriage returns (added by the pty the
frontend commands run in) are ignored everywhere.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from .oar_dates import oar_date_to_unixts, oar_duration_to_seconds

__all__ = ["OarOutputError", "parse_oarsub_job_ids", "parse_oarstat_ids", "parse_oarstat_full",
           "job_info_from_fields", "parse_node_list", "parse_subnets_addresses", "parse_subnets_parameters",
           "parse_kavlan_ids", "parse_oarwalltime_status", "parse_oarwalltime_request"]

_DATE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
_FIELD_RE = re.compile(r"^\s+(\w+) = ?(.*)$")
_EVENT_RE = re.compile(r"^(" + _DATE + r")> ([A-Z_]+):(.*)$")
_JOB_ID_RE = re.compile(r"^OAR_JOB_ID=(-?\d+)\s*$", re.MULTILINE)


class OarOutputError(ValueError):
    """OAR printed something these readers do not understand."""


def _lines(text: str) -> List[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_oarsub_job_ids(text: str) -> List[int]:
    """Every ``OAR_JOB_ID=N`` line, in order (N is negative when oarsub refused the job)."""
    return [int(value) for value in _JOB_ID_RE.findall(text.replace("\r", ""))]


def parse_oarstat_ids(text: str) -> List[int]:
    """Job ids of ``oarstat``'s table (the lines starting with a number), as execo 2.8 reads them."""
    return [int(match) for match in re.findall(r"^(\d+)\s", text.replace("\r", ""), re.MULTILINE)]


def parse_oarstat_full(text: str) -> List[Dict[str, Any]]:
    """The jobs of ``oarstat -f`` (``-fj ID``, ``-u -f``): one dict of raw string fields per job.

    Each dict has ``Job_Id`` and every ``key = value`` line; ``events`` is the list of
    ``(date, type, description)`` lines that follow ``events =``. A line that is none of these
    continues the previous value (a command or message with a newline in it).
    """
    jobs: List[Dict[str, Any]] = []
    current: Optional[Dict[str, Any]] = None
    last_key: Optional[str] = None
    in_events = False
    for line in _lines(text):
        if line.startswith("Job_Id:"):
            job_id = line[len("Job_Id:"):].strip()
            if not job_id.isdigit():
                raise OarOutputError("unreadable job header %r" % (line,))
            current = {"Job_Id": job_id, "events": []}
            jobs.append(current)
            last_key, in_events = None, False
            continue
        if current is None:
            if line.strip():
                raise OarOutputError("text before the first 'Job_Id:' line: %r" % (line,))
            continue
        if not line.strip():
            continue
        field = _FIELD_RE.match(line)
        if field and not in_events:
            last_key = field.group(1)
            if last_key == "events":
                in_events = True
            else:
                current[last_key] = field.group(2).rstrip()
            continue
        if in_events:
            event = _EVENT_RE.match(line)
            if event:
                current["events"].append((event.group(1), event.group(2), event.group(3)))
            elif current["events"]:
                date, kind, description = current["events"][-1]
                current["events"][-1] = (date, kind, description + "\n" + line)
            continue
        if last_key is None:
            raise OarOutputError("unreadable line %r" % (line,))
        current[last_key] = current[last_key] + "\n" + line.rstrip()
    return jobs


def _date(fields: Dict[str, Any], *keys: str) -> Optional[float]:
    for key in keys:
        value = fields.get(key, "")
        if re.match("^" + _DATE + "$", value.strip()):
            return oar_date_to_unixts(value.strip())
    return None


def job_info_from_fields(fields: Dict[str, Any]) -> Dict[str, Any]:
    """execo's job info dict from one job of :func:`parse_oarstat_full`.

    Keys as in execo 2.8, each present only when OAR printed it: ``start_date``,
    ``walltime`` (s), ``scheduled_start`` (absent when OAR has no prediction), ``state``,
    ``name`` ('' when unset). Beyond 2.8: ``job_id``, ``owner``, ``queue``, ``project``,
    ``types`` (list), ``nodes`` (assigned host names), ``command``, ``message``,
    ``reservation``, ``submission_date``, ``stop_date``, ``exit_code`` (the raw wait
    status: ``>> 8`` for the command's exit code), ``events`` (list of (unix ts, type, text)).
    """
    info: Dict[str, Any] = {"job_id": int(fields["Job_Id"])}
    start = _date(fields, "startTime", "start_time")
    if start is not None:
        info["start_date"] = start
    walltime = fields.get("walltime", "").strip()
    if walltime:
        if not re.match(r"^\d+:\d?\d:\d?\d$", walltime):
            raise OarOutputError("unreadable walltime %r" % (walltime,))
        info["walltime"] = oar_duration_to_seconds(walltime)
    scheduled = _date(fields, "scheduledStart", "scheduled_start")
    if scheduled is not None:
        info["scheduled_start"] = scheduled
    state = fields.get("state", "").strip()
    if state:
        if not re.match(r"^\w+$", state):
            raise OarOutputError("unreadable state %r" % (state,))
        info["state"] = state
    if "name" in fields:
        info["name"] = fields["name"].strip()
    for key, source in (("owner", "owner"), ("queue", "queue"), ("project", "project"),
                        ("command", "command"), ("message", "message"), ("reservation", "reservation")):
        if source in fields:
            info[key] = fields[source].strip()
    if "types" in fields:
        info["types"] = [t.strip() for t in fields["types"].split(",") if t.strip()]
    if "assigned_hostnames" in fields:
        info["nodes"] = [h for h in fields["assigned_hostnames"].strip().split("+") if h]
    submission = _date(fields, "submissionTime", "submission_time")
    if submission is not None:
        info["submission_date"] = submission
    stop = _date(fields, "stopTime", "stop_time")
    if stop is not None:
        info["stop_date"] = stop
    exit_code = re.match(r"^\s*(-?\d+)", fields.get("exit_code", ""))
    if exit_code:
        info["exit_code"] = int(exit_code.group(1))
    info["events"] = [(oar_date_to_unixts(date), kind, text) for date, kind, text in fields.get("events", [])]
    return info


def parse_node_list(text: str) -> List[str]:
    """Whitespace-separated host names (``oarprint network_address``), in order, duplicates kept."""
    return text.replace("\r", "").split()


def parse_subnets_addresses(text: str) -> List[Tuple[str, str]]:
    """``g5k-subnets -i -m``: one ``ip<blank>mac`` pair per line."""
    pairs = []
    for line in _lines(text):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise OarOutputError("expected 'ip mac' on each line, got %r" % (line,))
        pairs.append((parts[0], parts[1]))
    return pairs


_SUBNET_KEYS = ("ip_prefix", "broadcast", "netmask", "gateway", "network", "dns_hostname", "dns_ip")


def parse_subnets_parameters(text: str) -> Dict[str, str]:
    """``g5k-subnets -a``: one line of 7 tab-separated fields; {} when the job has no subnet.

    execo 2.8 also returned {} when the line did not have 7 fields; so does this, since
    g5k-subnets prints nothing (or a message) for a job without subnets.
    """
    line = text.replace("\r", "").strip("\n").strip(" ")
    values = line.split("\t") if line else []
    if len(values) != len(_SUBNET_KEYS):
        return {}
    return dict(zip(_SUBNET_KEYS, (value.strip() for value in values)))


def parse_kavlan_ids(text: str) -> List[int]:
    """``kavlan -V``: one vlan id per line; [] when no line is a number (a job without vlan)."""
    ids = []
    for line in _lines(text):
        line = line.strip()
        if re.match(r"^\d+$", line):
            ids.append(int(line))
    return ids


_WALLTIME_STATUS_KEYS = {"Current walltime": "walltime", "Possible increase": "possible_increase",
                         "Already granted": "granted", "Pending/unsatisfied": "pending"}


def parse_oarwalltime_status(text: str) -> Dict[str, Any]:
    """``oarwalltime ID``: walltime and granted (s), possible_increase (s, or None: unlimited), pending (s)."""
    if "FUNCTIONALITY IS DISABLED" in text or "functionality is disabled" in text:
        raise OarOutputError("walltime changes are disabled on this OAR server")
    status: Dict[str, Any] = {}
    for line in _lines(text):
        match = re.match(r"^\s*([A-Za-z/ ]+?):\s+(\S+)\s*$", line)
        if not match or match.group(1) not in _WALLTIME_STATUS_KEYS:
            continue
        key, value = _WALLTIME_STATUS_KEYS[match.group(1)], match.group(2)
        if value == "UNLIMITED":
            status[key] = None
        else:
            status[key] = oar_duration_to_seconds(value.lstrip("+-"))
    if "walltime" not in status:
        raise OarOutputError("no 'Current walltime:' line")
    return status


def parse_oarwalltime_request(text: str) -> None:
    """``oarwalltime ID +H:M:S``: returns when OAR accepted the request, else raises with OAR's words."""
    flat = text.replace("\r", "")
    if re.search(r"^Accepted:", flat, re.MULTILINE):
        return
    raise OarOutputError("the walltime change was not accepted")
