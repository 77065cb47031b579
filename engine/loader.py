"""Finding the Engine class named on the execo-run command line."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from types import ModuleType
from typing import Optional, Tuple, Type

from execo_engine.engine import Engine

__all__ = ["EngineLoadError", "load_engine_class"]


class EngineLoadError(Exception):
    """The engine spec names no usable Engine class; the message says which file and why."""


def _load_file(path: str) -> ModuleType:
    path = os.path.abspath(path)
    name = os.path.splitext(os.path.basename(path))[0]
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)  # the engine may import its sibling modules
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise EngineLoadError("%s: cannot be loaded as a Python module" % path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so that the engine finds its own file (engine_dir, manifest)
    try:
        spec.loader.exec_module(module)
    except SyntaxError:
        raise
    except FileNotFoundError as exc:
        raise EngineLoadError("%s: %s" % (path, exc.strerror)) from exc
    return module


def _load_module(spec: str) -> ModuleType:
    """A file path, ``name`` for ``./name.py``, or an importable module name."""
    if spec.endswith(".py") or os.sep in spec:
        if not os.path.isfile(spec):
            raise EngineLoadError("engine file %s does not exist" % spec)
        return _load_file(spec)
    if os.path.isfile(spec + ".py"):
        return _load_file(spec + ".py")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name and spec.startswith(exc.name):
            raise EngineLoadError("engine %s: no file %s.py here and no module of that name"
                                  % (spec, spec)) from exc
        raise


def load_engine_class(spec: str) -> Tuple[Type[Engine], Optional[str]]:
    """The Engine subclass for ``FILE_OR_MODULE[:Class]`` and the file defining it.

    Without ``:Class``: the class named like the module, else the only Engine subclass
    defined in it.
    """
    target, _, class_name = spec.partition(":")
    if not target:
        raise EngineLoadError("empty engine name in %r (use FILE_OR_MODULE[:Class])" % spec)
    module = _load_module(target)
    where = getattr(module, "__file__", None) or module.__name__
    if class_name:
        cls = getattr(module, class_name, None)
        if cls is None:
            raise EngineLoadError("%s defines no class %s" % (where, class_name))
        if not (inspect.isclass(cls) and issubclass(cls, Engine)):
            raise EngineLoadError("%s: %s is not a subclass of execo_engine.Engine" % (where, class_name))
        return cls, getattr(module, "__file__", None)
    module_name = module.__name__.rpartition(".")[2]
    named = getattr(module, module_name, None)
    if inspect.isclass(named) and issubclass(named, Engine):
        return named, getattr(module, "__file__", None)
    defined = [obj for obj in vars(module).values()
               if inspect.isclass(obj) and issubclass(obj, Engine) and obj is not Engine
               and obj.__module__ == module.__name__]
    if len(defined) == 1:
        return defined[0], getattr(module, "__file__", None)
    if not defined:
        raise EngineLoadError("%s does not define an Engine (no subclass of execo_engine.Engine)"
                              % where)
    raise EngineLoadError("%s defines several engines (%s): choose one with %s:<Class>"
                          % (where, ", ".join(sorted(c.__name__ for c in defined)), target))
