"""A stand-in for the Grid'5000 REST API, serving the real reference documents on 127.0.0.1.

    from g5k_api_server import G5kAPIStandin
    with G5kAPIStandin() as api:
        g5k_configuration['api_uri'] = api.base_uri

Start it by hand with `python3 -m g5k_api_server` from tests/ (or examples/g5k_api_standin.py);
with `--oar`, rennes' jobs come from the real OAR testbed (oar_jobs.py).
"""

from .reference import DEFAULT_DATA_DIR, ReferenceData
from .server import API_VERSIONS, Fault, G5kAPIStandin, StandinState

__all__ = ["API_VERSIONS", "DEFAULT_DATA_DIR", "Fault", "G5kAPIStandin", "ReferenceData", "StandinState"]
