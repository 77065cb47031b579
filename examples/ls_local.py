#!/usr/bin/env python3
"""The seed's first example: run ``ls /`` locally and look at the process."""

from execo import Process

process = Process("ls /")
process.run()
print("process:\n%s" % process)
print("process stdout:\n" + process.stdout)
print("process stderr:\n" + process.stderr)
