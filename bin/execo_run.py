"""execo-run: run an experiment engine.

    execo-run ENGINE_FILE_OR_MODULE[:Class] [engine options] [arguments]

``execo-run my_engine -ML`` loads ``./my_engine.py`` (or the module ``my_engine``), takes
its class ``my_engine`` (or the only Engine subclass it defines, or the one named after a
colon) and starts it with the remaining arguments; ``-h`` after the engine shows its options.
"""

from __future__ import annotations

import sys
from typing import List, Optional

USAGE = "usage: execo-run ENGINE_FILE_OR_MODULE[:Class] [engine options] [arguments]\n"


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE + __doc__.split("\n\n", 2)[2])
        return 0 if args else 2
    from execo_engine.loader import EngineLoadError, load_engine_class
    spec, engine_args = args[0], args[1:]
    try:
        cls, _ = load_engine_class(spec)
    except EngineLoadError as exc:
        sys.stderr.write("execo-run: %s\n" % exc)
        return 2
    engine = cls()
    engine.args_parser.prog = "execo-run %s" % spec
    engine.args_parser.usage = "execo-run %s [options] <arguments>" % spec
    try:
        engine.start(engine_args)
    except KeyboardInterrupt:
        sys.stderr.write("execo-run: interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
