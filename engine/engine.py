"""Engine: the skeleton of an experiment script (options, result directory, outputs, hooks).

Run an engine with ``execo-run my_engine.py [options]`` or, when the file ends with
``if __name__ == "__main__": MyEngine().start()``, with ``python my_engine.py [options]``.

Differences from execo 2.8 (deliberate):

- init() and run() of the Engine classes in the hierarchy are called **ancestors first**,
  as execo 2.8's documentation says (its code called the most derived class first);
- a new result directory is never shared: when the default one exists already (two runs
  started in the same second), ``_2``, ``_3``... is appended;
- every run writes a JSON manifest (``manifest_<date>_<host>_<pid>.json``) into the result
  directory;
- a bad ``-l`` level or a ``-c`` path that is a file is reported by the option parser.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import time
import traceback
from argparse import ArgumentParser
from typing import Any, List, Optional

from execo_engine.log import ensure_handler, logger, parse_level
from execo_engine.manifest import Manifest
from execo_engine.outputs import copy_outputs, redirect_outputs

__all__ = ["Engine"]

# Captured at import, as in execo 2.8: under ``ipython -i engine.py -- args``, sys.argv is
# only right while the engine file is being loaded.
_engineargs = sys.argv[1:]


def _call_in_class_order(engine: "Engine", method_name: str) -> None:
    """Call each Engine class's own `method_name`, ancestors first, each once."""
    for cls in reversed(type(engine).__mro__):
        if isinstance(cls, type) and issubclass(cls, Engine) and method_name in cls.__dict__:
            cls.__dict__[method_name].__get__(engine, cls)()


class Engine:
    """Base class of experiment engines.

    Subclasses add their options to :attr:`args_parser` in ``__init__`` (after calling
    ``super().__init__()``), prepare in :meth:`init` and experiment in :meth:`run`. The
    base class parses the command line, sets the log level, creates (or reuses, with
    ``-c``) the result directory, copies or redirects the outputs and writes a manifest
    before calling them. Subclasses must not call ``super().init()`` / ``super().run()``:
    each class's own method is called once, ancestors first.

    Attributes: ``engine_dir`` (directory of the file defining the class, or None),
    ``args_parser``, ``args`` (None until start()), ``run_name``, ``result_dir``,
    ``manifest`` (the :class:`~execo_engine.manifest.Manifest` of the run).
    """

    def __init__(self) -> None:
        module = sys.modules.get(type(self).__module__)
        module_file = getattr(module, "__file__", None)
        self.engine_file: Optional[str] = os.path.realpath(module_file) if module_file else None
        self.engine_dir: Optional[str] = os.path.dirname(self.engine_file) if self.engine_file else None
        self.args_parser = ArgumentParser(usage="<program> [options] <arguments>",
                                          description="engine: " + type(self).__name__)
        parser = self.args_parser
        parser.add_argument("-l", dest="log_level", default=None, metavar="LOG_LEVEL",
                            help="log level of the execo loggers (a number or a name such as DEBUG)")
        parser.add_argument("-L", dest="output_mode", action="store_const", const="copy",
                            default=False,
                            help="copy stdout / stderr into files of the result directory")
        parser.add_argument("-R", dest="output_mode", action="store_const", const="redirect",
                            default=False,
                            help="redirect stdout / stderr into files of the result directory")
        parser.add_argument("-M", dest="merge_outputs", action="store_true", default=False,
                            help="with -L or -R, use one file stdout+stderr")
        parser.add_argument("-c", dest="use_dir", default=None, metavar="DIR",
                            help="use (or continue the experiment in) the result directory DIR")
        self.args: Any = None
        self.run_name: Optional[str] = None
        self.result_dir: Optional[str] = None
        self.manifest: Optional[Manifest] = None

    # -- the run ---------------------------------------------------------------------------

    def start(self, engineargs: Optional[List[str]] = None) -> None:
        """Parse the options, prepare the result directory, then call init() and run()."""
        self.args = self.args_parser.parse_args(_engineargs if engineargs is None else engineargs)
        ensure_handler()
        if self.args.log_level is not None:
            try:
                level = parse_level(self.args.log_level)
            except ValueError as exc:
                self.args_parser.error("-l: %s" % exc)
            logging.getLogger("execo").setLevel(level)
        self.setup_run_name()
        if self.args.use_dir:
            self.result_dir = os.path.abspath(self.args.use_dir)
            if os.path.exists(self.result_dir) and not os.path.isdir(self.result_dir):
                self.args_parser.error("-c: %s is not a directory" % self.result_dir)
            os.makedirs(self.result_dir, exist_ok=True)
        else:
            self.setup_result_dir()
            self._create_new_result_dir()
        self._setup_outputs()
        self.manifest = Manifest(self.result_dir, self, self.engine_file)
        self.manifest.data["engine_args"] = vars(self.args)
        self.manifest.data["run_name"] = self.run_name
        self.manifest.data["continued"] = bool(self.args.use_dir)
        self.manifest.write()
        logger.info("command line arguments: %s", sys.argv)
        logger.info("command line: %s", " ".join(shlex.quote(a) for a in sys.argv))
        logger.info("run in directory %s", self.result_dir)
        try:
            _call_in_class_order(self, "init")
            _call_in_class_order(self, "run")
        except KeyboardInterrupt:
            self.manifest.finish("interrupted", "KeyboardInterrupt")
            raise
        except SystemExit as exc:
            ok = exc.code in (None, 0)
            self.manifest.finish("ok" if ok else "failed", None if ok else "SystemExit(%r)" % (exc.code,))
            raise
        except BaseException as exc:
            self.manifest.finish("failed", "".join(traceback.format_exception_only(type(exc), exc)).strip())
            raise
        self.manifest.finish("ok")

    def _create_new_result_dir(self) -> None:
        base = self.result_dir
        parent = os.path.dirname(base)
        if parent:
            os.makedirs(parent, exist_ok=True)
        candidate, n = base, 1
        while True:
            try:
                os.mkdir(candidate)
                break
            except FileExistsError:
                n += 1
                candidate = "%s_%d" % (base, n)
        if candidate != base:
            logger.info("result directory %s exists already: using %s", base, candidate)
            if self.run_name == os.path.basename(base):
                self.run_name = os.path.basename(candidate)
            self.result_dir = candidate

    def _setup_outputs(self) -> None:
        mode = self.args.output_mode
        if not mode:
            return
        if self.args.merge_outputs:
            stdout_name = stderr_name = os.path.join(self.result_dir, "stdout+stderr")
        else:
            stdout_name = os.path.join(self.result_dir, "stdout")
            stderr_name = os.path.join(self.result_dir, "stderr")
        if mode == "copy":
            copy_outputs(stdout_name, stderr_name)
            logger.info("dup stdout / stderr to %s and %s", stdout_name, stderr_name)
        else:
            redirect_outputs(stdout_name, stderr_name)
            logger.info("redirect stdout / stderr to %s and %s", stdout_name, stderr_name)

    # -- overridable -----------------------------------------------------------------------

    def setup_run_name(self) -> None:
        """Set run_name; by default ``<ClassName>_<YYYYmmdd_HHMMSS>_<tz offset>``."""
        self.run_name = type(self).__name__ + "_" + time.strftime("%Y%m%d_%H%M%S_%z")

    def setup_result_dir(self) -> None:
        """Set result_dir (not called with -c); by default ``./<run_name>``.

        If the directory exists already, ``_2``, ``_3``... is appended to it.
        """
        self.result_dir = os.path.abspath(self.run_name)

    def init(self) -> None:
        """Prepare the experiment; each Engine class's init() is called, ancestors first."""

    def run(self) -> None:
        """The experiment; each Engine class's run() is called, ancestors first, after init()."""
