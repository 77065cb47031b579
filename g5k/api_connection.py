"""Talking to the Grid'5000 REST API over HTTP: `APIConnection` and `APIException`.

One connection object holds the base URI, the credentials and the HTTP settings; it retries
what is worth retrying (connection errors, 429 and 5xx answers) with an exponential backoff, and
turns everything else into an `APIException` that names the method and the URI. Credentials are
never logged nor shown in an exception: only the user name is.
"""

from __future__ import annotations

import getpass
import logging
import netrc
import os
import random
import sys
import threading
import time
from typing import Any, Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

import requests
import requests.adapters

from execo.log import logger

from .config import g5k_configuration

GET_OK = (200, 304)
POST_OK = (200, 201, 202, 304)
DELETE_OK = (200, 202, 204, 304)
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_BACKOFF = 30.0
KEYRING_SERVICE = "grid5000_api"
POOL_SIZE = 16
"""Connections kept open per API host: as many as the threads fetching the reference."""


def redact_uri(uri: str) -> str:
    """The URI without any user:password@ part, fit for a log line or an error message."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class APIException(Exception):
    """An API request failed: network error, timeout, unexpected status or a body that is not JSON.

    Attributes: ``uri``, ``method``, ``response`` (the requests.Response, or None), ``exception``
    (the underlying exception, or None), ``status_code`` (None when no answer came back).
    """

    def __init__(self, uri: str, method: str, response: Optional[requests.Response] = None,
                 exception: Optional[BaseException] = None, message: Optional[str] = None):
        self.uri = redact_uri(uri)
        self.method = method
        self.response = response
        self.exception = exception
        self.message = message
        super().__init__(str(self))

    @property
    def status_code(self) -> Optional[int]:
        return self.response.status_code if self.response is not None else None

    @property
    def is_unreachable(self) -> bool:
        """True when the failure says nothing about the request itself: the API is down or away."""
        if self.response is None:
            return self.exception is not None
        ctype = self.response.headers.get("Content-Type", "")
        return self.status_code in RETRY_STATUSES or (self.status_code in GET_OK and "json" not in ctype)

    def __str__(self) -> str:
        text = "%s %s failed" % (self.method, self.uri)
        if self.response is not None:
            text += ": HTTP %s %s" % (self.response.status_code, self.response.reason or "")
            body = _short_text(self.response)
            if body:
                text += ": %s" % body
        if self.exception is not None:
            text += ": %s: %s" % (type(self.exception).__name__, self.exception)
        if self.message:
            text += " (%s)" % self.message
        return text


def _short_text(response: requests.Response, limit: int = 300) -> str:
    try:
        text = response.text
    except Exception:  # undecodable body: say nothing rather than fail while reporting
        return ""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _netrc_credentials(host: str) -> Tuple[Optional[str], Optional[str]]:
    """(login, password) of the ~/.netrc (or $NETRC) entry for host, or (None, None)."""
    path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    if not host or not os.path.isfile(path):
        return None, None
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (netrc.NetrcParseError, OSError) as e:
        logger.warning("ignoring unreadable netrc file %s: %s", path, e)
        return None, None
    if not entry:
        return None, None
    return entry[0], entry[2]


def _keyring_password(username: str) -> Optional[str]:
    """The password stored by the keyring module for the Grid'5000 API, when keyring is usable."""
    try:
        logging.getLogger("keyring").addHandler(logging.NullHandler())
        import keyring  # optional dependency
        return keyring.get_password(KEYRING_SERVICE, username)
    except Exception:  # keyring absent, or no usable backend: not an error
        return None


def _keyring_store(username: str, password: str) -> None:
    try:
        import keyring  # optional dependency
        keyring.set_password(KEYRING_SERVICE, username, password)
    except Exception:  # keyring absent, or no usable backend: nothing to store into
        pass


_asked_passwords: Dict[Tuple[str, str], str] = {}
_asked_lock = threading.Lock()


class APIConnection:
    """A connection to the Grid'5000 REST API (execo 2.8 signature, plus retries and verify_ssl).

    :param base_uri: defaults to ``g5k_configuration['api_uri']``.
    :param username: defaults to ``g5k_configuration['api_username']``; False means no
      credentials at all (the usual case inside Grid'5000).
    :param password: when None, looked up in ``g5k_configuration['api_password']``, then the
      keyring (service "grid5000_api"), then the netrc entry of the API host; last, asked on the
      terminal when there is one. With no user name, a netrc entry gives both login and password.
    :param headers: HTTP headers; default ``Accept: application/json``.
    :param additional_args: query parameters added to every request, on top of
      ``g5k_configuration['api_additional_args']`` (which is not modified).
    :param timeout: seconds, default ``g5k_configuration['api_timeout']``.
    :param retries: extra tries after a connection error, 429 or 5xx; default
      ``g5k_configuration['api_retries']``. Only requests that are safe to repeat are retried:
      GET and DELETE always, POST only when the server said it did nothing (429, 503).
    """

    def __init__(self, base_uri: Optional[str] = None, username: Any = None, password: Optional[str] = None,
                 headers: Optional[Mapping[str, str]] = None,
                 additional_args: Optional[Mapping[str, str]] = None, timeout: Optional[float] = None,
                 retries: Optional[int] = None, retry_backoff: Optional[float] = None,
                 verify_ssl: Optional[bool] = None):
        self.base_uri = (base_uri or g5k_configuration["api_uri"]).rstrip("/")
        self.headers = dict(headers) if headers else {"Accept": "application/json"}
        self.additional_args = dict(g5k_configuration.get("api_additional_args") or {})
        self.additional_args.update(additional_args or {})
        self.timeout = timeout if timeout is not None else g5k_configuration["api_timeout"]
        self.retries = retries if retries is not None else g5k_configuration.get("api_retries", 0)
        self.retry_backoff = retry_backoff if retry_backoff is not None \
            else g5k_configuration.get("api_retry_backoff", 1.0)
        self.verify_ssl = verify_ssl if verify_ssl is not None else g5k_configuration["api_verify_ssl_cert"]
        self.username, self._password = self._credentials(username, password)
        self._http: Optional[requests.Session] = None
        self._session_lock = threading.Lock()

    def __repr__(self) -> str:
        return "<APIConnection %s user=%r>" % (redact_uri(self.base_uri), self.username)

    # -- credentials -----------------------------------------------------------------------
    def _credentials(self, username: Any, password: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
        if username is False:
            return None, None
        username = username or g5k_configuration.get("api_username")
        if username and password:
            return username, password
        if username and g5k_configuration.get("api_password"):
            return username, g5k_configuration["api_password"]
        if username:
            password = _keyring_password(username)
            if password:
                return username, password
        login, netrc_password = _netrc_credentials(urlsplit(self.base_uri).hostname or "")
        if netrc_password and (not username or username == login):
            return login, netrc_password
        if username:
            return username, self._ask_password(username)
        return None, None

    def _ask_password(self, username: str) -> Optional[str]:
        """Ask on the terminal (3 tries, each checked against the API), as execo 2.8 does."""
        key = (self.base_uri, username)
        with _asked_lock:
            if key in _asked_passwords:
                return _asked_passwords[key]
            if not (sys.stdin and sys.stdin.isatty()):
                logger.warning("no password found for Grid'5000 API user %s (configuration, keyring, "
                               "netrc) and no terminal to ask one: requests go without credentials",
                               username)
                return None
            for _ in range(3):
                password = getpass.getpass("Grid5000 API authentication password for user %s: " % username)
                try:
                    response = requests.get(self.base_uri + "/", auth=(username, password),
                                            headers=self.headers, timeout=self.timeout,
                                            verify=self.verify_ssl)
                except requests.RequestException as e:
                    logger.warning("cannot check the password against %s: %s", redact_uri(self.base_uri), e)
                    continue
                if response.status_code in GET_OK:
                    _asked_passwords[key] = password
                    _keyring_store(username, password)
                    return password
            return None

    @property
    def auth(self) -> Optional[Tuple[str, str]]:
        if self.username and self._password:
            return (self.username, self._password)
        return None

    # -- HTTP ------------------------------------------------------------------------------
    def uri(self, relative_uri: str) -> str:
        return self.base_uri + "/" + relative_uri.lstrip("/")

    def _session(self) -> requests.Session:
        """One Session for every thread: urllib3's pool is thread-safe, and per-thread sessions
        would pile up open connections as worker threads come and go."""
        with self._session_lock:
            if self._http is None:
                session = requests.Session()
                session.headers.update(self.headers)
                adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=POOL_SIZE)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._http = session
            return self._http

    def close(self) -> None:
        """Close the pooled HTTP connections (a later request opens new ones)."""
        with self._session_lock:
            session, self._http = self._http, None
        if session is not None:
            session.close()

    def __enter__(self) -> "APIConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, method: str, relative_uri: str, ok_statuses=GET_OK, json: Any = None,
                params: Optional[Mapping[str, Any]] = None) -> requests.Response:
        """Send one request, retrying as documented in the class; raise APIException on failure."""
        uri = self.uri(relative_uri)
        query = dict(self.additional_args)
        query.update(params or {})
        repeatable = method in ("GET", "DELETE", "HEAD")
        attempt = 0
        while True:
            delay = None
            try:
                response = self._session().request(method, uri, params=query or None, json=json,
                                                   auth=self.auth or _no_auth, timeout=self.timeout,
                                                   verify=self.verify_ssl)
            except requests.exceptions.ConnectionError as e:
                # ConnectTimeout is a ConnectionError: nothing reached the server, safe to retry.
                safe = repeatable or isinstance(e, requests.exceptions.ConnectTimeout)
                if not safe or attempt >= self.retries:
                    raise APIException(uri, method, exception=e) from None
                error = "%s" % type(e).__name__
            except requests.exceptions.RequestException as e:
                raise APIException(uri, method, exception=e) from None
            else:
                if response.status_code in ok_statuses:
                    return response
                status = response.status_code
                retryable = status in RETRY_STATUSES and (repeatable or status in (429, 503))
                if not retryable or attempt >= self.retries:
                    raise APIException(uri, method, response=response)
                error = "HTTP %s" % status
                delay = _retry_after(response)
                response.close()
            if delay is None:
                delay = min(MAX_BACKOFF, self.retry_backoff * (2 ** attempt)) * random.uniform(0.75, 1.0)
            attempt += 1
            logger.detail("%s %s: %s, retry %d/%d in %.1fs", method, redact_uri(uri), error, attempt,
                          self.retries, delay)
            time.sleep(delay)

    def get(self, relative_uri: str, params: Optional[Mapping[str, Any]] = None) -> requests.Response:
        """GET a path relative to the base URI; the Response, if its status is 200 or 304."""
        return self.request("GET", relative_uri, GET_OK, params=params)

    def get_json(self, relative_uri: str, params: Optional[Mapping[str, Any]] = None) -> Any:
        """GET a path and decode its JSON body; an HTML page or garbage raises APIException."""
        response = self.get(relative_uri, params)
        ctype = response.headers.get("Content-Type", "")
        try:
            if "json" not in ctype:
                raise ValueError("Content-Type is %r, not JSON" % (ctype or "missing"))
            return response.json()
        except ValueError as e:
            raise APIException(response.url or self.uri(relative_uri), "GET", response=response,
                               message="expected JSON: %s" % e) from None

    def post(self, relative_uri: str, json: Any = None) -> requests.Response:
        """POST a JSON body; the Response, if its status is 200, 201, 202 or 304."""
        return self.request("POST", relative_uri, POST_OK, json=json)

    def delete(self, relative_uri: str) -> requests.Response:
        """DELETE a resource; the Response, if its status is 200, 202, 204 or 304."""
        return self.request("DELETE", relative_uri, DELETE_OK)


def _no_auth(request):
    """Send no credentials: keeps requests from picking ~/.netrc on its own (we did look there,
    with our own rules, when the connection was built)."""
    return request


def _retry_after(response: requests.Response) -> Optional[float]:
    """The server's Retry-After in seconds (numeric form only), capped; None when absent."""
    value = response.headers.get("Retry-After")
    try:
        return min(float(value), 2 * MAX_BACKOFF) if value is not None else None
    except ValueError:
        return None
