"""g5k-show-structure: the sites of Grid'5000 and their clusters (from the reference API).

    g5k-show-structure [-n] [-Q QUEUES] [-s SITES]

One line per site: ``site: cluster cluster ...``; with -n, each cluster's node count and each
site's total.
"""

from __future__ import annotations

import sys
from typing import List, Optional

from execo_bin import _g5k_common as common


def main(argv: Optional[List[str]] = None) -> int:
    p = common.parser("g5k-show-structure", __doc__.split("\n\n", 1)[0],
                      epilog="exit codes: 0 ok, 2 bad usage or unknown site, 3 API unreachable")
    p.add_argument("-n", "--nodes", action="store_true", help="show the number of nodes of each cluster")
    p.add_argument("-Q", "--queues", default="default",
                   help="clusters of these queues (comma-separated; 'all' for every queue; default: default)")
    p.add_argument("-s", "--sites", help="only these sites (comma-separated)")
    args = p.parse_args(argv)
    common.apply_common(args)

    def body() -> int:
        from execo_g5k.api_utils import get_cluster_hosts, get_g5k_sites, get_site_clusters

        queues = None if args.queues == "all" else args.queues.split(",")
        for site in common.sites_argument(args.sites) or get_g5k_sites():
            clusters = get_site_clusters(site, queues=queues)
            if args.nodes:
                counts = [(c, len(get_cluster_hosts(c))) for c in clusters]
                print("%s (%d nodes): %s" % (site, sum(n for _, n in counts),
                                             " ".join("%s(%d)" % c for c in counts)))
            else:
                print("%s: %s" % (site, " ".join(clusters)))
        return common.EXIT_OK

    return common.run("g5k-show-structure", body)


if __name__ == "__main__":
    sys.exit(main())
