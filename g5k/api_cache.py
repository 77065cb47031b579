"""A local copy of the Grid'5000 reference API (sites, clusters, nodes, network equipments).

The reference changes a few times a month, and scripts ask it hundreds of questions, so it is
fetched once (about a hundred requests, sent in parallel) and kept on disk as one JSON file per
API endpoint, tagged with the API's ``version`` (the reference-repository commit). On first use
in a process the API root is asked for its version: the same version means the file is used as
is; another version means a new fetch; an API out of reach (network error, timeout, 5xx,
maintenance page) means the file is used as is, with a warning.

Data layout (as execo 2.8's): ``{'sites': {site: attrs}, 'clusters': {cluster: attrs},
'hosts': {host uid: attrs}, 'hierarchy': {site: {cluster: [host uids]}},
'network': {site: {equipment uid: attrs}, 'backbone': [attrs, ...]}}``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple

from execo.log import logger

from .api_connection import APIConnection, APIException, redact_uri
from .config import g5k_configuration

CACHE_FORMAT = 1
FETCH_THREADS = 16
DATA_KEYS = ("sites", "clusters", "hosts", "hierarchy", "network")

_lock = threading.RLock()
_data: Optional[Dict[str, Any]] = None
_data_key: Optional[Tuple] = None
_connection: Optional[APIConnection] = None
_connection_key: Optional[Tuple] = None


def _settings_key() -> Tuple:
    """What identifies the API being talked to: a change of any of these means another API."""
    args = g5k_configuration.get("api_additional_args") or {}
    return (g5k_configuration["api_uri"].rstrip("/"), tuple(sorted((str(k), str(v)) for k, v in args.items())),
            g5k_configuration.get("api_username"), g5k_configuration.get("api_timeout"),
            g5k_configuration.get("api_retries"), g5k_configuration.get("api_verify_ssl_cert"))


def get_connection() -> APIConnection:
    """The shared APIConnection built from g5k_configuration (rebuilt when the settings change)."""
    global _connection, _connection_key
    with _lock:
        key = _settings_key()
        if _connection is None or _connection_key != key:
            if _connection is not None:
                _connection.close()
            _connection = APIConnection()
            _connection_key = key
        return _connection


def default_cache_dir() -> Optional[str]:
    configured = g5k_configuration.get("api_cache_dir")
    if configured:
        return os.path.expanduser(configured)
    home = os.environ.get("HOME")
    return os.path.join(home, ".execo", "g5k_api_cache") if home else None


def cache_file(cache_dir: str) -> str:
    """One file per API endpoint (base URI + additional args), so that a test API never
    overwrites the real one's copy."""
    uri, args = _settings_key()[:2]
    tag = hashlib.sha1(repr((uri, args)).encode()).hexdigest()[:16]
    return os.path.join(cache_dir, "reference-%s.json" % tag)


def reset() -> None:
    """Forget the in-memory copy and the shared connection: the next call checks the API again."""
    global _data, _data_key, _connection, _connection_key
    with _lock:
        _data = None
        _data_key = None
        if _connection is not None:
            _connection.close()
        _connection = None
        _connection_key = None


def get_api_data(cache_dir: Any = True) -> Dict[str, Any]:
    """The reference data, from memory, the disk cache or the API (see the module docstring).

    :param cache_dir: a directory; True (default) means ``g5k_configuration['api_cache_dir']``
      or ``~/.execo/g5k_api_cache``; None or False means no disk cache at all.
    """
    global _data, _data_key
    with _lock:
        key = _settings_key()
        if _data is not None and _data_key == key:
            return _data
        if cache_dir is True:
            cache_dir = default_cache_dir()
        data = _load_or_fetch(cache_dir or None)
        _data, _data_key = data, key
        return data


def _load_or_fetch(cache_dir: Optional[str]) -> Dict[str, Any]:
    api = get_connection()
    path = cache_file(cache_dir) if cache_dir else None
    cached = _read_cache(path) if path else None
    try:
        version = api.get_json("")["version"]
    except (APIException, KeyError, TypeError) as e:
        if cached is not None and (not isinstance(e, APIException) or e.is_unreachable):
            logger.warning("Grid'5000 API unreachable (%s): using the cached reference of version %s from %s",
                           e, cached["version"], path)
            return cached["data"]
        if isinstance(e, APIException):
            raise
        raise APIException(api.uri(""), "GET", message="the API root has no 'version' field") from None
    if cached is not None and cached["version"] == version:
        logger.detail("Grid'5000 reference cache %s is at the API version %s", path, version)
        return cached["data"]
    if cached is not None:
        logger.info("Grid'5000 reference changed (%s -> %s): fetching it again", cached["version"], version)
    try:
        data = fetch_reference(api)
    except APIException as e:
        if cached is not None and e.is_unreachable:
            logger.warning("fetching the Grid'5000 reference failed (%s): using the cached version %s",
                           e, cached["version"])
            return cached["data"]
        raise
    if path:
        _write_cache(path, version, api.base_uri, data)
    return data


def _read_cache(path: str) -> Optional[Dict[str, Any]]:
    """The cache file's content, or None when absent or unusable (a broken file is only reported)."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            cached = json.load(f)
        if cached.get("format") != CACHE_FORMAT or not all(k in cached["data"] for k in DATA_KEYS):
            raise ValueError("not a format %d reference cache" % CACHE_FORMAT)
        return cached
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        logger.warning("ignoring the unusable Grid'5000 reference cache %s: %s", path, e)
        return None


def _write_cache(path: str, version: str, base_uri: str, data: Dict[str, Any]) -> None:
    """Write atomically (temporary file + rename), so that a crash never leaves half a cache."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".reference-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                # dumps then write: json.dump would use the slow pure-Python encoder
                f.write(json.dumps({"format": CACHE_FORMAT, "version": version, "api_uri": redact_uri(base_uri),
                                    "fetched_at": int(time.time()), "data": data}))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as e:
        logger.warning("cannot write the Grid'5000 reference cache %s: %s", path, e)
        return
    logger.detail("Grid'5000 reference of version %s written to %s", version, path)


def fetch_reference(api: APIConnection) -> Dict[str, Any]:
    """Fetch the whole reference: every site, cluster, node list and network equipment list.

    The requests are independent, so they go through a thread pool: the first round gets the
    site list, the second each site's clusters, network equipments and attributes, the third
    every cluster's attributes and nodes. Clusters of every queue are asked for (queues=all) so
    that `filter_clusters` can choose locally.
    """
    logger.info("Retrieving the Grid'5000 reference from %s ...", redact_uri(api.base_uri))
    with ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="g5k-api-fetch") as pool:
        backbone = pool.submit(_items, api, "network_equipments")
        sites = [s["uid"] for s in _items(api, "sites")]
        site_jobs = {s: (pool.submit(api.get_json, "sites/%s" % s),
                         pool.submit(_items, api, "sites/%s/clusters" % s, {"queues": "all"}),
                         pool.submit(_items, api, "sites/%s/network_equipments" % s))
                     for s in sites}
        cluster_jobs: Dict[str, Dict[str, Tuple]] = {}
        for site, (_, clusters, _) in site_jobs.items():
            cluster_jobs[site] = {}
            for c in clusters.result():
                uid = c["uid"]
                cluster_jobs[site][uid] = (
                    pool.submit(api.get_json, "sites/%s/clusters/%s" % (site, uid), {"queues": "all"}),
                    pool.submit(_items, api, "sites/%s/clusters/%s/nodes" % (site, uid)))
        data: Dict[str, Any] = {"sites": {}, "clusters": {}, "hosts": {}, "hierarchy": {},
                                "network": {"backbone": backbone.result()}}
        for site, (attrs, _, equipments) in site_jobs.items():
            data["sites"][site] = attrs.result()
            data["network"][site] = {e["uid"]: e for e in equipments.result()}
            data["hierarchy"][site] = {}
            for cluster, (cluster_attrs, nodes) in cluster_jobs[site].items():
                data["clusters"][cluster] = cluster_attrs.result()
                hosts = nodes.result()
                data["hierarchy"][site][cluster] = [h["uid"] for h in hosts]
                for h in hosts:
                    data["hosts"][h["uid"]] = h
    logger.detail("Grid'5000 reference: %d sites, %d clusters, %d hosts", len(data["sites"]),
                  len(data["clusters"]), len(data["hosts"]))
    return data


def _items(api: APIConnection, path: str, params: Optional[Dict[str, str]] = None) -> List[dict]:
    doc = api.get_json(path, params)
    try:
        return list(doc["items"])
    except (KeyError, TypeError):
        raise APIException(api.uri(path), "GET", message="answer is not a collection (no 'items')") from None
