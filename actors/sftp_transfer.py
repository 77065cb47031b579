"""Put and Get over SFTP, with ``scp -rp`` semantics: directories recursively, modes and times kept.

Like scp, the destination is a directory that receives every source, or (one source only) the new name of
that source. Relative remote paths are relative to the remote home directory; a leading ``~/`` is accepted.
Remote sources of a Get may hold glob patterns (``*``, ``?``, ``[...]``) as the remote shell would expand
them for scp. A failure on one file is reported (``report(line)``, which the worker sends as stderr) and the
transfer goes on with the others; the result is scp's exit status: 0, or 1 when anything failed.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import stat
from typing import Callable, List, Sequence

import paramiko

Report = Callable[[str], None]


def _remote(path: str) -> str:
    if path in ("", "~"):
        return "."
    if path.startswith("~/"):
        return path[2:] or "."
    return path


def _remote_isdir(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode or 0)
    except IOError:
        return False


def _error_text(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def put(sftp: paramiko.SFTPClient, local_files: Sequence[str], dest: str, report: Report) -> int:
    """Copy local files and directories to dest on the host."""
    dest = _remote(dest)
    into_dir = _remote_isdir(sftp, dest)
    if not into_dir and len(local_files) > 1:
        report("%s: not a directory (several sources to copy)" % dest)
        return 1
    status = 0
    for source in local_files:
        target = posixpath.join(dest, os.path.basename(source.rstrip("/")) or source) if into_dir else dest
        try:
            status |= _put_one(sftp, source, target, report)
        except (IOError, OSError) as error:
            report("%s: %s" % (source, _error_text(error)))
            status = 1
    return status


def _put_one(sftp: paramiko.SFTPClient, source: str, target: str, report: Report) -> int:
    info = os.stat(source)
    if stat.S_ISDIR(info.st_mode):
        if not _remote_isdir(sftp, target):
            sftp.mkdir(target, 0o700)  # opened up by chmod below, once the contents are in
        status = 0
        for name in sorted(os.listdir(source)):
            try:
                status |= _put_one(sftp, os.path.join(source, name), posixpath.join(target, name), report)
            except (IOError, OSError) as error:
                report("%s: %s" % (os.path.join(source, name), _error_text(error)))
                status = 1
    else:
        sftp.put(source, target, confirm=False)
        status = 0
    sftp.chmod(target, stat.S_IMODE(info.st_mode))
    sftp.utime(target, (info.st_atime, info.st_mtime))
    return status


def _expand_remote(sftp: paramiko.SFTPClient, pattern: str) -> List[str]:
    """The paths a remote shell would give for pattern (the pattern itself when nothing magic is in it)."""
    if not any(c in pattern for c in "*?["):
        return [pattern]
    parent, leaf = posixpath.split(pattern)
    parents = _expand_remote(sftp, parent) if parent else [""]
    matches: List[str] = []
    for directory in parents:
        try:
            names = sftp.listdir(directory or ".")
        except IOError:
            continue
        matches += [posixpath.join(directory, n) for n in sorted(fnmatch.filter(names, leaf))
                    if not n.startswith(".") or leaf.startswith(".")]
    return matches


def get(sftp: paramiko.SFTPClient, remote_files: Sequence[str], dest: str, report: Report) -> int:
    """Copy remote files and directories from the host to the local dest."""
    dest = dest or "."
    sources: List[str] = []
    status = 0
    for pattern in remote_files:
        expanded = _expand_remote(sftp, _remote(pattern))
        if not expanded:
            report("%s: No such file or directory" % pattern)
            status = 1
        sources += expanded
    into_dir = os.path.isdir(dest)
    if not into_dir and len(sources) > 1:
        report("%s: not a directory (several sources to copy)" % dest)
        return 1
    for source in sources:
        target = os.path.join(dest, posixpath.basename(source.rstrip("/")) or source) if into_dir else dest
        try:
            status |= _get_one(sftp, source, target, report)
        except (IOError, OSError) as error:
            report("%s: %s" % (source, _error_text(error)))
            status = 1
    return status


def _get_one(sftp: paramiko.SFTPClient, source: str, target: str, report: Report) -> int:
    info = sftp.stat(source)
    mode = info.st_mode or 0
    if stat.S_ISDIR(mode):
        if not os.path.isdir(target):
            os.mkdir(target, 0o700)
        status = 0
        for entry in sorted(sftp.listdir_attr(source), key=lambda e: e.filename):
            path = posixpath.join(source, entry.filename)
            try:
                status |= _get_one(sftp, path, os.path.join(target, entry.filename), report)
            except (IOError, OSError) as error:
                report("%s: %s" % (path, _error_text(error)))
                status = 1
    else:
        sftp.get(source, target)
        status = 0
    os.chmod(target, stat.S_IMODE(mode))
    os.utime(target, (info.st_atime, info.st_mtime))
    return status
