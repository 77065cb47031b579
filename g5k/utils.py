"""execo 2.8 kept these helpers in execo_g5k.utils: old imports keep working."""

from .frontend import get_default_frontend, get_frontend_host
from .kadeploy import get_kavlan_host_name

__all__ = ["get_default_frontend", "get_frontend_host", "get_kavlan_host_name"]
