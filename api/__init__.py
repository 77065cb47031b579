"""execo: start, watch, time and kill processes, local or remote, alone or in parallel.

``from execo import *`` gives the same names as execo 2.8.
"""

from .config import CHAINPUT, SCP, SSH, TAKTUK, configuration, default_connection_params
from .log import logger
from .time_utils import format_date, format_duration, get_seconds, get_unixts, sleep, Timer
from .host import Host
from .process import (STDERR, STDOUT, ExpectOutputHandler, Process, ProcessLifecycleHandler,
                      ProcessOutputHandler, get_process)
from .ssh_process import SshProcess
from .action import (Action, ActionLifecycleHandler, Local, ParallelActions, SequentialActions,
                     filter_bad_hosts, wait_all_actions, wait_any_actions)
from .remote import Get, Put, Remote
from .port_forwarder import PortForwarder
from .taktuk import TaktukGet, TaktukProcess, TaktukPut, TaktukRemote
from .chainput import ChainPut
from .serial import RemoteSerial, Serial, SerialSsh
from .action_factory import default_action_factory, get_fileget, get_fileput, get_remote
from .report import Report
from .exceptions import ActionsFailed, ProcessesFailed

__version__ = "3.0.0.dev0"
