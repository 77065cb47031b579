"""The hop of a ChainPut chain: a POSIX sh script, shipped to the hosts with TaktukPut.

The hosts of a ChainPut need neither Python nor execo: ChainPut writes :data:`SCRIPT` to a
file, sends it to every host with TaktukPut (with the list of hosts), runs it locally as
the sender (index 0) and on every host as a forwarder (index 1..n) with TaktukRemote.

Each forwarder listens with netcat on its own address, writes what it receives to the
destination directory and, at the same time, sends it on to the next host (``tee``); a
host that does not answer after ``host tries`` attempts is skipped, at most ``chain
tries`` hosts in a row. Nothing is authenticated or encrypted: for trusted networks only.

Command line (the interface of execo 2.8's ``execo-chainput``, without --autoremove; the
files are removed by a last step of ChainPut instead, so that a fast host cannot delete
them under a slow one sharing its /tmp)::

    sh <script> <file> <dest dir> <nc> <client timeout> <server timeout> <port>
       <host tries> <chain tries> <delay> <index> <hosts file>

``python3 -m execo_actors.chainput_forwarder`` prints the script.
"""

from __future__ import annotations

import os
import sys

SCRIPT = r"""#!/bin/sh
# A hop of an execo ChainPut chain. Not meant to be run by hand.
if [ $# -ne 11 ]; then
    echo "usage: $0 <file> <dest dir> <nc> <client timeout> <server timeout> <port>" \
         "<host tries> <chain tries> <delay> <index> <hosts file>" >&2
    exit 2
fi
file=$1; destdir=$2; nc=$3; client_timeout=$4; server_timeout=$5; port=$6
host_tries=$7; chain_tries=$8; delay=$9; shift 9; index=$1; hosts_file=$2

hosts=$(cat "$hosts_file") || exit 1      # read once: the file may go away meanwhile
count=$(printf '%s\n' "$hosts" | grep -c .)

note() {
    echo "$(date '+%Y-%m-%d %H:%M:%S') chainput hop $index/$count: $*" >&2
}

host_at() {
    printf '%s\n' "$hosts" | sed -n "${1}p"
}

# stdin: the data. Send it to the first next host that answers.
send_on() {
    next=$((index + 1))
    left=$chain_tries
    while [ "$next" -le "$count" ] && [ "$left" -gt 0 ]; do
        target=$(host_at "$next")
        left=$((left - 1))
        try=1
        while [ "$try" -le "$host_tries" ]; do
            # shellcheck disable=SC2086 (nc may hold options)
            if $nc -w "$client_timeout" -q 0 "$target" "$port"; then
                note "sent to $target"
                return 0
            fi
            note "try $try/$host_tries to $target failed"
            try=$((try + 1))
            sleep "$delay"
        done
        next=$((next + 1))
    done
    if [ "$index" -eq 0 ]; then
        note "no host of the chain answered"
        return 1
    fi
    [ "$index" -lt "$count" ] && note "no next host answered: end of the chain here"
    cat > /dev/null
    return 0
}

if [ "$index" -eq 0 ]; then
    send_on < "$file"
    exit $?
fi

me=$(host_at "$index")
dest="$destdir/$(basename "$file")"
received_file=$(mktemp) || exit 1
written_file=$(mktemp) || exit 1
# shellcheck disable=SC2086
{ $nc -l -s "$me" -p "$port" -w "$server_timeout" < /dev/null; echo $? > "$received_file"; } \
    | { tee "$dest"; echo $? > "$written_file"; } | send_on
forwarded=$?
received=$(cat "$received_file"); written=$(cat "$written_file"); rm -f "$received_file" "$written_file"
if [ "$received" != 0 ]; then
    note "receiving on $me:$port failed (netcat exit $received)"
    exit 1
fi
if [ "$written" != 0 ]; then
    note "writing $dest failed"
    exit 1
fi
exit $forwarded
"""


def write_script(path: str) -> None:
    """Write the script at ``path`` (mode 0700)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    with os.fdopen(fd, "w") as f:
        f.write(SCRIPT)


if __name__ == "__main__":
    sys.stdout.write(SCRIPT)
