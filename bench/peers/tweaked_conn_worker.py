"""The connection worker with paramiko tweaks, for the bench's "execo+tweaks" peer only (never used by execo).

Run as ``python -m tweaked_conn_worker`` with bench/peers on PYTHONPATH; $EXECO_BENCH_TWEAKS picks the tweaks
(comma-separated), then execo_actors.conn_worker runs unchanged. It measures what a change in
actors/ssh_connection.py would bring before anyone makes it:

  gcm   AES-GCM first in the cipher list: an AEAD cipher, so no HMAC computed and then compared byte by byte in
        Python (paramiko.util.constant_time_bytes_eq) for every packet
  poll  transport threads wake every 2 s instead of 0.1 s to look for a close (paramiko's _active_check_timeout):
        500 idle connections otherwise cost 5000 thread wake-ups per second
  eq    hmac.compare_digest for paramiko's MAC check (the same gain as gcm for a server without AES-GCM)
"""

import hmac
import os
import runpy

import paramiko
import paramiko.util

TWEAKS = set(filter(None, os.environ.get("EXECO_BENCH_TWEAKS", "").split(",")))
unknown = TWEAKS - {"gcm", "poll", "eq"}
if unknown:
    raise SystemExit("EXECO_BENCH_TWEAKS: unknown %s (known: gcm, poll, eq)" % ", ".join(sorted(unknown)))
if "gcm" in TWEAKS:
    first = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
    paramiko.Transport._preferred_ciphers = first + tuple(c for c in paramiko.Transport._preferred_ciphers
                                                          if c not in first)
if "poll" in TWEAKS:
    paramiko.Transport._active_check_timeout = 2.0
if "eq" in TWEAKS:
    paramiko.util.constant_time_bytes_eq = hmac.compare_digest

runpy.run_module("execo_actors.conn_worker", run_name="__main__", alter_sys=True)
