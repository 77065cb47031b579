"""The connection worker with tweaks, for the bench's "execo+tweaks" peer only (never used by execo).

Run as ``python -m tweaked_conn_worker`` with bench/peers on PYTHONPATH; $EXECO_BENCH_TWEAKS picks the tweaks
(comma-separated), then execo_actors.conn_worker runs unchanged. It measures what a change in actors/ would
bring, or what a shipped change brought, side by side with execo as it ships:

  threads  paramiko's thread per connection reads every packet, as before the worker's loop read them
           (actors/ssh_loop.py): the A/B measure of that change
  eq       hmac.compare_digest for paramiko's MAC check (matters for servers without AES-GCM)

(AES-GCM first and the slow close check, once tweaks "gcm" and "poll" here, are in actors/ssh_transport.py.)
"""

import hmac
import os
import runpy

import paramiko.util

TWEAKS = set(filter(None, os.environ.get("EXECO_BENCH_TWEAKS", "").split(",")))
unknown = TWEAKS - {"threads", "eq"}
if unknown:
    raise SystemExit("EXECO_BENCH_TWEAKS: unknown %s (known: threads, eq)" % ", ".join(sorted(unknown)))
if "threads" in TWEAKS:
    os.environ["EXECO_SSH_THREADS"] = "1"
if "eq" in TWEAKS:
    paramiko.util.constant_time_bytes_eq = hmac.compare_digest

runpy.run_module("execo_actors.conn_worker", run_name="__main__", alter_sys=True)
