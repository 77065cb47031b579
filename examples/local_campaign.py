#!/usr/bin/env python3
"""A small local campaign: how fast does gzip compress, per level and input size?

Run it, interrupt it (Ctrl-C, or kill it), and continue where it stopped::

    execo-run examples/local_campaign.py -ML            # new campaign, outputs copied
    execo-run examples/local_campaign.py -c <result dir>  # continue it
    python3 examples/local_campaign.py --workers 4       # also works as a script

Several copies may work on one campaign at once (``-c`` the same directory, even from
several hosts over NFS): each combination is measured once.
"""

import os
import threading

from execo import Process
from execo_engine import (Engine, ParamSweeper, logger, run_combinations, slugify, sweep,
                          sweeper_progress)


class local_campaign(Engine):

    def __init__(self):
        super().__init__()
        self.args_parser.add_argument("--workers", type=int, default=2,
                                      help="combinations measured at once by this process")
        self.args_parser.add_argument("--attempts", type=int, default=2,
                                      help="attempts before a failing combination is skipped")

    def init(self):
        self.parameters = {
            "level": [1, 6, 9],
            "size_kb": [256, 1024],
            "repeat": [1, 2],
        }

    def measure(self, combination):
        """One measurement: compress `size_kb` of pseudo-random data at `level`."""
        name = slugify(combination) or "combination"
        output = os.path.join(self.result_dir, "results", name)
        cmd = ("head -c %d /dev/urandom | base64 | gzip -%d -c | wc -c"
               % (combination["size_kb"] * 1024, combination["level"]))
        process = Process(cmd, shell=True, timeout=60).run()
        if not process.ok:
            raise RuntimeError("%s failed: exit code %s" % (cmd, process.exit_code))
        duration = process.end_date - process.start_date
        with open(output + ".tmp", "w") as f:
            f.write("compressed_bytes %s\nseconds %.6f\n" % (process.stdout.strip(), duration))
        os.replace(output + ".tmp", output)  # a result file is complete or absent

    def run(self):
        os.makedirs(os.path.join(self.result_dir, "results"), exist_ok=True)
        sweeper = ParamSweeper(os.path.join(self.result_dir, "sweeps"), sweep(self.parameters),
                               save_sweeps=True)
        sweeper.reclaim_dead()  # what a killed earlier run of this host left in progress
        with sweeper_progress(sweeper, label="gzip"):
            threads = [threading.Thread(target=run_combinations,
                                        args=(sweeper, self.measure, self.args.attempts))
                       for _ in range(self.args.workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        logger.info("finished: %s", sweeper)
        for combination, reason in sweeper.get_skip_reasons().items():
            logger.warning("skipped %s: %s", combination, reason)


if __name__ == "__main__":
    local_campaign().start()
