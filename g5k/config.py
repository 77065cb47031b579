"""Grid'5000 settings: ``g5k_configuration`` and the connection parameters used to reach frontends.

Like ``execo.config``, the dicts are read at the moment a value is needed, so a script may change
them at any time; ``~/.execo.conf.py`` may define dicts of the same names, merged in at import.

Keys beyond execo 2.8's (all optional, with defaults that keep 2.8's behaviour):
``api_password`` (Basic password for ``api_username``; prefer the keyring or ~/.netrc),
``api_retries`` and ``api_retry_backoff`` (retries on connection errors, 429 and 5xx),
``api_cache_dir`` (where the reference API cache lives; None means ``~/.execo/g5k_api_cache``).
"""

from typing import Any, Dict

from execo.config import get_user_config_filename, load_configuration

g5k_configuration: Dict[str, Any] = {
    "kadeploy3": "kadeploy3",
    "kadeploy3_options": "-k -d",
    "default_env_name": None,
    "default_env_file": None,
    "default_timeout": 900,
    "check_deployed_command": "! (mount | grep -E '^/dev/[[:alpha:]]+2 on / ')",
    "no_ssh_for_local_frontend": False,
    "polling_interval": 20,
    "tiny_polling_interval": 10,
    "default_frontend": None,
    "api_uri": "https://api.grid5000.fr/3.0/",
    "api_username": None,
    "api_additional_args": {},
    "api_timeout": 30,
    "api_verify_ssl_cert": True,
    "oar_job_key_file": None,
    "oar_pgsql_ro_db": "oar2",
    "oar_pgsql_ro_user": "oarreader",
    "oar_pgsql_ro_password": "read",
    "oar_pgsql_ro_port": 5432,
    # additions of this re-implementation
    "api_password": None,
    "api_retries": 3,
    "api_retry_backoff": 1.0,
    "api_cache_dir": None,
    "oar_timezone": "Europe/Paris",  # the zone OAR prints its dates in (the server's local zone)
}
"""Global Grid'5000 settings (execo 2.8 keys and defaults, plus the additions listed above)."""


def _frontend_host_rewrite(host: str) -> str:
    """A site name is reached through its frontend, ``<site>.grid5000.fr``."""
    return host + ".grid5000.fr"


default_frontend_connection_params: Dict[str, Any] = {
    "pty": True,
    "host_rewrite_func": _frontend_host_rewrite,
}
"""Connection parameters for the commands run on frontends (oarsub, kadeploy3, ...)."""

default_oarsh_oarcp_params: Dict[str, Any] = {
    "ssh": "oarsh",
    "scp": "oarcp",
    "taktuk_connector": "oarsh",
    "pty": True,
}
"""Connection parameters to reach the nodes of an OAR job with oarsh/oarcp instead of ssh/scp."""

load_configuration(get_user_config_filename(),
                   ((g5k_configuration, "g5k_configuration"),
                    (default_frontend_connection_params, "default_frontend_connection_params"),
                    (default_oarsh_oarcp_params, "default_oarsh_oarcp_params")))
