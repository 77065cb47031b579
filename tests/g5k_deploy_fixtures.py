"""Fixtures that deploy "Grid'5000 nodes" for real: the kadeploy3 stand-in and sshd test hosts.

``kadeploy_standin`` gives 4 nodes ``paravance-1..4.rennes.grid5000.fr``, each an sshd test
host on its own loopback address. kadeploy3 runs locally (the frontend of rennes is this
machine: ``default_frontend='rennes'`` with ``no_ssh_for_local_frontend``), as the stand-in
program of tests/kadeploy3_standin.py; the nodes are reached over ssh with
``standin.node_connection_params``, whose ``host_rewrite_func`` maps node names (and their
``-kavlan-N`` names) to the addresses, as Grid'5000's DNS would. ``standin.check_command``
really runs on the node and passes once the stand-in deployed it.
"""

from __future__ import annotations

import re
from typing import Dict

import pytest

from kadeploy3_standin import KadeployStandin

_KAVLAN_RE = re.compile(r"-kavlan-\d+(?=\.|$)")
NODE_NAMES = ["paravance-%d.rennes.grid5000.fr" % i for i in range(1, 5)]


class NodeResolver:
    """host_rewrite_func: a node name, or its kavlan name, -> its test address."""

    def __init__(self, addresses: Dict[str, str]) -> None:
        self.addresses = dict(addresses)

    def __call__(self, name: str) -> str:
        return self.addresses.get(_KAVLAN_RE.sub("", name), name)

    def __repr__(self) -> str:
        return "NodeResolver(%d nodes)" % (len(self.addresses),)


@pytest.fixture
def kadeploy_standin(tmp_path, sshd_hosts, ssh_connection_params):
    from execo_g5k.config import g5k_configuration

    hosts = sshd_hosts(len(NODE_NAMES))
    nodes = {name: host.address for name, host in zip(NODE_NAMES, hosts)}
    standin = KadeployStandin(str(tmp_path / "kadeploy3"), nodes, delay=0.0)
    standin.nodes = list(NODE_NAMES)
    standin.resolver = NodeResolver(nodes)
    standin.node_connection_params = dict(ssh_connection_params, host_rewrite_func=standin.resolver)
    saved = dict(g5k_configuration)
    g5k_configuration.update({"kadeploy3": standin.program, "default_frontend": "rennes",
                              "no_ssh_for_local_frontend": True,
                              "check_deployed_command": standin.check_command})
    try:
        yield standin
    finally:
        g5k_configuration.clear()
        g5k_configuration.update(saved)
