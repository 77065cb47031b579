"""execo_engine: experiment engines and persistent parameter sweeps."""

from execo_engine.log import logger
from execo_engine.sweep import HashableDict, geom, igeom, sweep, sweep_stats
from execo_engine.param_sweeper import ParamSweeper, ParamSweeperError
from execo_engine.slug import slugify
from execo_engine.outputs import copy_outputs, redirect_outputs
from execo_engine.engine import Engine
from execo_engine.progress import Progress, sweeper_progress
from execo_engine.campaign import run_combinations

__all__ = ["logger", "Engine", "slugify", "redirect_outputs", "copy_outputs", "HashableDict",
           "sweep", "ParamSweeper", "geom", "igeom", "sweep_stats", "ParamSweeperError",
           "Progress", "sweeper_progress", "run_combinations"]
