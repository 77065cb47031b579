"""`OarSubmission`: what to ask OAR for, as a plain data holder (execo 2.8's constructor and repr).

It lives in its own module so that planning can build submissions without the OAR command-line
code; `execo_g5k.oar` re-exports it.
"""

from typing import Any

from execo.time_utils import format_date, format_duration

_FIELDS = ("resources", "walltime", "job_type", "sql_properties", "queue", "reservation_date",
           "directory", "project", "name", "additional_options", "command")


class OarSubmission:
    """An OAR submission; every member maps to an oarsub option.

    - resources: the ``-l`` part without the walltime; a string or an iterable of them.
    - walltime: the job walltime (anything ``execo.time_utils.get_seconds`` reads).
    - job_type: ``-t``: deploy, besteffort, cosystem, allow_classic_ssh, ...; a string or an iterable.
    - sql_properties: ``-p`` constraints (single quotes for literal strings).
    - queue: ``-q``.
    - reservation_date: ``-r``, a date (anything ``execo.time_utils.get_unixts`` reads).
    - directory: ``-d``; project: ``--project``; name: ``-n``.
    - additional_options: passed as is to oarsub.
    - command: what the job runs (default: sleep a long time).
    """

    def __init__(self, resources: Any = None, walltime: Any = None, job_type: Any = None,
                 sql_properties: Any = None, queue: Any = None, reservation_date: Any = None,
                 directory: Any = None, project: Any = None, name: Any = None,
                 additional_options: Any = None, command: Any = None):
        self.resources = resources
        self.walltime = walltime
        self.job_type = job_type
        self.sql_properties = sql_properties
        self.queue = queue
        self.reservation_date = reservation_date
        self.directory = directory
        self.project = project
        self.name = name
        self.additional_options = additional_options
        self.command = command

    def __repr__(self) -> str:
        parts = []
        for field in _FIELDS:
            value = getattr(self, field)
            if value is None:
                continue
            if field == "walltime":
                value = format_duration(value)
            elif field == "reservation_date":
                value = format_date(value)
            parts.append("%s=%r" % (field, value))
        return "OarSubmission(%s)" % ", ".join(parts)
