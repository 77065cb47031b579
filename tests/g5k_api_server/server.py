"""An HTTP server on 127.0.0.1 that answers like api.grid5000.fr, plus faults injected on demand.

Tests drive it through `G5kAPIStandin.state`: change the version, add users, mark nodes dead,
add simulated jobs, or queue faults (an HTTP error, a hang, an HTML page, a dropped connection)
for the next requests whose path matches a pattern. Every request is logged with its user so
that a test can check what the client really sent (and that it sent no password in clear).
"""

import base64
import contextlib
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional
from urllib.parse import parse_qsl, urlsplit

from .documents import Documents, NotFound
from .oar_jobs import OarAPIError, OarJobs
from .reference import DEFAULT_DATA_DIR, ReferenceData

API_VERSIONS = ("3.0", "stable", "sid")
HTML_PAGE = ("<!DOCTYPE html><html><head><title>Grid'5000 maintenance</title></head>"
             "<body><h1>The API is under maintenance</h1></body></html>")


class Fault:
    """One injected failure: `kind` is 'status', 'timeout', 'html', 'reset' or 'delay'."""

    def __init__(self, pattern: str, kind: str, times: Optional[int] = 1, status: int = 500,
                 body: str = "Internal Server Error", delay: float = 0.0, method: Optional[str] = None,
                 headers: Optional[Dict[str, str]] = None):
        if kind not in ("status", "timeout", "html", "reset", "delay"):
            raise ValueError("unknown fault kind %r" % (kind,))
        self.pattern = re.compile(pattern)
        self.kind = kind
        self.times = times
        self.status = status
        self.body = body
        self.delay = delay
        self.method = method
        self.headers = headers or {}

    def matches(self, method: str, path: str) -> bool:
        return (self.times is None or self.times > 0) and (self.method in (None, method)) \
            and bool(self.pattern.search(path))


class StandinState:
    """Everything a test may change between requests; guarded by one lock."""

    def __init__(self, reference: ReferenceData):
        self.lock = threading.RLock()
        self._pristine = reference
        # Sites whose jobs come from a real OAR server (oar_jobs.OarJobs); set once, kept by reset().
        self.oar_sites: Dict[str, OarJobs] = {}
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.reference = self._pristine.copy() if getattr(self, "reference_dirty", False) \
                else self._pristine
            self.reference_dirty = False
            self.version = self.reference.version
            self.users: Dict[str, str] = {}
            self.require_auth = False
            self.default_user: Optional[str] = "execo"
            self.node_states: Dict[str, str] = {}
            self.jobs: Dict[str, List[dict]] = {}
            self.faults: List[Fault] = []
            self.requests: List[dict] = []
            self.posts: List[dict] = []
            self.in_flight = 0
            self.max_in_flight = 0

    @contextlib.contextmanager
    def edit_reference(self):
        """Yield a private copy of the reference data to modify (reset() restores the original)."""
        with self.lock:
            if self.reference is self._pristine:
                self.reference = self._pristine.copy()
            self.reference_dirty = True
            yield self.reference

    def add_fault(self, pattern: str, kind: str = "status", **kw) -> Fault:
        fault = Fault(pattern, kind, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Optional[Fault]:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def site_jobs(self, site: str) -> List[dict]:
        with self.lock:
            return list(self.jobs.get(site, ()))

    def request_paths(self, method: str = "GET") -> List[str]:
        with self.lock:
            return [r["path"] for r in self.requests if r["method"] == method]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "g5k-api-standin/1"
    timeout = 30

    # BaseHTTPRequestHandler logs every request on stderr; tests read state.requests instead.
    def log_message(self, format, *args):  # noqa: A002 - signature imposed by the base class
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle + delayed ACK add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        state: StandinState = self.server.state
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        body = self._read_body()
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            user, auth_error = self._authenticate(state)
            with state.lock:
                state.requests.append({"method": method, "path": split.path, "query": query,
                                       "user": user, "authorization": self.headers.get("Authorization"),
                                       "accept": self.headers.get("Accept"), "time": time.time()})
            fault = state.take_fault(method, split.path)
            if fault is not None and self._apply_fault(fault):
                return
            if auth_error:
                self._text(401, auth_error, {"WWW-Authenticate": 'Basic realm="Grid5000"'})
                return
            self._route(state, method, split.path, query, body, user)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authenticate(self, state: StandinState):
        """Return (user, error): Basic credentials, else X-Api-User-CN, else the default user."""
        header = self.headers.get("Authorization")
        if header:
            scheme, _, encoded = header.partition(" ")
            try:
                login, _, password = base64.b64decode(encoded).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, "Malformed Authorization header"
            if scheme.lower() != "basic":
                return None, "Only Basic authentication is supported"
            if state.users and state.users.get(login) != password:
                return None, "Bad credentials for user %s" % login
            return login, None
        if state.require_auth:
            return None, "Authentication required"
        cn = self.headers.get("X-Api-User-CN")
        if cn and cn != "unknown":
            return cn, None
        return state.default_user, None

    def _apply_fault(self, fault: Fault) -> bool:
        """Play a fault; True when the request is fully answered (or deliberately not answered)."""
        if fault.kind == "delay":
            self.server.stopping.wait(fault.delay)
            return False
        if fault.kind == "status":
            self._text(fault.status, fault.body, fault.headers)
        elif fault.kind == "html":
            self._send(200, HTML_PAGE.encode(), "text/html; charset=utf-8", fault.headers)
        elif fault.kind == "timeout":
            # Hang without answering, then drop the connection: the client must time out first.
            self.server.stopping.wait(fault.delay or 10.0)
            self.close_connection = True
        elif fault.kind == "reset":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        return True

    def _route(self, state, method, path, query, body, user) -> None:
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in API_VERSIONS:
            self._text(404, "Cannot find resource %s" % path)
            return
        v, rest = parts[0], parts[1:]
        docs = Documents(state)
        try:
            if method == "GET":
                self._json(200, self._get(docs, v, rest, query))
            elif method == "POST":
                self._post(state, v, rest, body, user)
            else:
                self._text(405, "Method not allowed")
        except NotFound:
            self._text(404, "Cannot find resource /%s" % "/".join(rest))
        except OarAPIError as e:
            # g5k-api answers 5xx when OAR's database fails; here OAR's REST API is the backend.
            self._text(502, "OAR backend failed: %s" % e)

    @staticmethod
    def _get(docs: Documents, v: str, rest: List[str], query) -> dict:
        n = len(rest)
        if n == 0:
            return docs.root(v, query)
        if rest[0] == "network_equipments" and n <= 2:
            return docs.backbone(v, rest[1] if n == 2 else None)
        if rest[0] != "sites":
            raise NotFound()
        if n == 1:
            return docs.sites(v)
        site = rest[1]
        if n == 2:
            if query.get("deep") in ("1", "true"):
                docs._site(site)
                deep = docs.site_deep(v, site)
                deep["version"] = docs.state.version
                return deep
            docs._site(site)
            return docs.site_item(v, site)
        kind = rest[2]
        if kind == "status" and n == 3:
            return docs.status(v, site)
        if kind == "clusters":
            if n == 3:
                return docs.clusters(v, site, query)
            cluster = rest[3]
            if n == 4:
                return docs.cluster_item(v, site, cluster, query)
            if n == 5 and rest[4] == "nodes":
                return docs.nodes(v, site, cluster)
            if n == 5 and rest[4] == "status":
                return docs.status(v, site, cluster)
            if n == 6 and rest[4] == "nodes":
                return docs.node_item(v, site, cluster, rest[5])
        if kind in ("network_equipments", "servers", "pdus") and n <= 4:
            return docs.site_subdir(v, site, kind, rest[3] if n == 4 else None)
        if kind == "jobs" and n <= 4:
            return docs.job(v, site, rest[3]) if n == 4 else docs.jobs(v, site, query)
        if kind == "metrics" and n == 5 and rest[4] == "timeseries":
            return docs.timeseries(v, site, rest[3], query)
        raise NotFound()

    def _post(self, state: StandinState, v: str, rest: List[str], body: bytes, user) -> None:
        if not user or user == "anonymous":
            self._text(403, "You are not authorized to access this resource")
            return
        try:
            payload = json.loads(body.decode() or "null")
        except ValueError:
            self._text(400, "Request body is not valid JSON")
            return
        # Old kavlan API (execo's set_nodes_vlan): POST /sites/{s}/vlans/{id} {"nodes": [...]};
        # current one: POST /sites/{s}/vlans/{id}/nodes [...].
        if len(rest) in (4, 5) and rest[0] == "sites" and rest[2] == "vlans" \
                and (len(rest) == 4 or rest[4] == "nodes"):
            if rest[1] not in state.reference.sites:
                raise NotFound()
            nodes = payload.get("nodes") if isinstance(payload, dict) else payload
            if not isinstance(nodes, list) or not nodes:
                self._text(400, "nodes must be a non-empty list of node network addresses")
                return
            with state.lock:
                state.posts.append({"path": "/" + "/".join(rest), "json": payload, "user": user})
            self._json(200, {n: {"status": "success", "message": "moved to vlan %s" % rest[3]}
                             for n in nodes})
            return
        raise NotFound()

    def _json(self, code: int, doc) -> None:
        self._send(code, json.dumps(doc).encode(), "application/json; charset=utf-8")

    def _text(self, code: int, text: str, headers: Optional[Dict[str, str]] = None) -> None:
        self._send(code, text.encode(), "text/plain; charset=utf-8", headers)

    def _send(self, code: int, data: bytes, content_type: str,
              headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Vary", "accept")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    # socketserver's default backlog of 5 drops the SYNs of a parallel burst: 1 s retransmits.
    request_queue_size = 128

    def __init__(self, address, state: StandinState):
        self.state = state
        self.stopping = threading.Event()
        self._connections = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn) -> None:
        with self._connections_lock:
            self._connections.add(conn)

    def untrack(self, conn) -> None:
        with self._connections_lock:
            self._connections.discard(conn)

    def drop_connections(self) -> None:
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class G5kAPIStandin:
    """The stand-in server: `start()`, `base_uri`, `state`, `stop()`; usable as a context manager."""

    def __init__(self, data_dir: str = DEFAULT_DATA_DIR, host: str = "127.0.0.1", port: int = 0,
                 api_version: str = "3.0", reference: Optional[ReferenceData] = None,
                 oar_api: Optional[str] = None, oar_site: str = "rennes", oar_cluster: str = "paravance"):
        """:param oar_api: serve ``oar_site``'s jobs (and its nodes' status) from the real OAR
          server whose REST API is there (e.g. DEFAULT_OAR_API, the testbed's); see oar_jobs.py."""
        self.state = StandinState(reference or ReferenceData(data_dir))
        if oar_api:
            self.state.oar_sites[oar_site] = OarJobs(self.state.reference, oar_site, oar_cluster, oar_api)
        self.host = host
        self.port = port
        self.api_version = api_version
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def base_uri(self) -> str:
        return "http://%s:%d/%s/" % (self.host, self.port, self.api_version)

    def start(self) -> "G5kAPIStandin":
        for backend in self.state.oar_sites.values():
            try:
                backend.check()
            except OarAPIError as e:
                raise ValueError("cannot serve %s's jobs from OAR: %s" % (backend.site, e)) from None
        self._server = _Server((self.host, self.port), self.state)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="g5k-api-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stopping.set()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()  # joins the handler threads
        self._thread.join()
        self._server = None

    def __enter__(self) -> "G5kAPIStandin":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
