"""/proc readers for the memory report: a process's children, and the SSH connections they hold."""

import os


def children(pid):
    """(pid, cmdline) of the direct children of pid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat[stat.rfind(b")") + 2:].split()[1]) == pid:
            found.append((int(entry), cmdline))
    return found


def _established_to(port):
    """Socket inodes of established IPv4 TCP connections whose remote port is port."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "01" and int(fields[2].split(":")[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def connections_to(pids, port):
    """How many established TCP connections to port the processes pids hold open."""
    wanted = _established_to(port)
    count = 0
    for pid in pids:
        try:
            links = [os.readlink("/proc/%d/fd/%s" % (pid, fd)) for fd in os.listdir("/proc/%d/fd" % pid)]
        except OSError:
            continue
        count += sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in wanted)
    return count


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (all its threads), from /proc/PID/stat."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
