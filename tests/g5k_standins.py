"""Fixtures that serve the Grid5000 stand-ins on 127.0.0.1.

- ``g5k_api_server`` (session): the REST API stand-in (tests/g5k_api_server), serving the real
  reference documents of tests/data/g5k; started once, its state is reset for every test.
- ``g5k_api`` (function): the same server with a fresh state, and ``g5k_configuration`` pointing
  execo_g5k at it (fast retries, a short timeout, a reference cache shared by the session so that
  the whole reference is fetched once). Everything is restored afterwards.
- ``g5k_api_oar_server`` (session) / ``g5k_api_oar`` (function): the same, except that the jobs
  of rennes (and the status of its nodes) come from the real OAR testbed (``oar_testbed``):
  OAR's node-i is paravance-i.rennes.grid5000.fr (tests/g5k_api_server/oar_jobs.py).
"""

import contextlib

import pytest

from g5k_api_server import G5kAPIStandin
from g5k_api_server.oar_jobs import DEFAULT_OAR_API

OAR_SITE = "rennes"
OAR_CLUSTER = "paravance"


@pytest.fixture(scope="session")
def g5k_api_server():
    server = G5kAPIStandin().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def g5k_reference_cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("g5k_api_cache"))


@contextlib.contextmanager
def _pointed_at(server, cache_dir):
    """g5k_configuration aimed at ``server`` (with a fresh state) for the duration; restored after."""
    from execo_g5k import api_cache
    from execo_g5k.config import g5k_configuration

    saved = dict(g5k_configuration)
    server.state.reset()
    api_cache.reset()
    g5k_configuration.update({
        "api_uri": server.base_uri,
        "api_username": None,
        "api_password": None,
        "api_additional_args": {},
        "api_timeout": 5,
        "api_retries": 2,
        "api_retry_backoff": 0.01,
        "api_cache_dir": cache_dir,
    })
    try:
        yield server
    finally:
        api_cache.reset()
        g5k_configuration.clear()
        g5k_configuration.update(saved)
        server.state.reset()


@pytest.fixture
def g5k_api(g5k_api_server, g5k_reference_cache_dir):
    with _pointed_at(g5k_api_server, g5k_reference_cache_dir) as server:
        yield server


@pytest.fixture(scope="session")
def g5k_api_oar_server(oar_testbed):
    """The stand-in with rennes' jobs read from the real OAR testbed (node-i = paravance-i)."""
    server = G5kAPIStandin(oar_api=DEFAULT_OAR_API, oar_site=OAR_SITE, oar_cluster=OAR_CLUSTER).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def g5k_api_oar(g5k_api_oar_server, g5k_reference_cache_dir):
    """Like g5k_api, against the OAR-backed server (the API's timeout covers OAR's slower answers)."""
    from execo_g5k.config import g5k_configuration

    with _pointed_at(g5k_api_oar_server, g5k_reference_cache_dir) as server:
        g5k_configuration["api_timeout"] = 30
        yield server
