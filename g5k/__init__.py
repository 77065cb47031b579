"""execo_g5k: Grid'5000 helpers: OAR jobs, kadeploy, the REST API, planning."""

from .config import default_frontend_connection_params, default_oarsh_oarcp_params, g5k_configuration
from .api_connection import APIConnection, APIException
from .api_utils import (
    UnknownElement, canonical_host_name, filter_clusters, get_cluster_attributes, get_cluster_hosts,
    get_cluster_jobtypes, get_cluster_network_equipments, get_cluster_queues, get_cluster_site,
    get_g5k_clusters, get_g5k_hosts, get_g5k_sites, get_host_attributes, get_host_cluster,
    get_host_interface, get_host_longname, get_host_network_equipments, get_host_shortname, get_host_site,
    get_hosts_metric, get_network_equipment_attributes, get_network_equipment_site,
    get_resource_attributes, get_site_attributes, get_site_clusters, get_site_hosts,
    get_site_network_equipments, group_hosts, set_nodes_vlan,
)
from .oar_submission import OarSubmission
from .charter import french_holidays, g5k_charter_time, get_next_charter_period
from .planning import (
    compute_slots, distribute_hosts, find_first_slot, find_free_slot, find_max_slot, get_jobs_specs,
    show_resources,
)
from .kadeploy import (
    Deployment, EnoughDeployed, KaconsoleProcess, KadeployError, Kadeployer, deploy, enough_deployed,
    get_kavlan_host_name,
)
from .planning import (
    draw_gantt, draw_slots, get_api_job_by_name, get_hosts_jobs, get_planning,
)
from .oar import (
    OarJobNotFound, OarJobResult, extend_oar_job_walltime, get_current_oar_jobs, get_job_by_name,
    get_oar_job_info, get_oar_job_kavlan, get_oar_job_nodes, get_oar_job_subnets, get_oar_job_walltime_status,
    get_oarsub_commandline, oardel, oarsub, oarsubgrid, wait_oar_job_start,
)
from .oar_dates import format_oar_date, format_oar_duration, oar_date_to_unixts, oar_duration_to_seconds
from .frontend import FrontendCommandError, get_default_frontend, get_frontend_host
from .port_forwarding import G5kAutoPortForwarder
