#!/usr/bin/env python3
"""Serve the Grid'5000 API stand-in of the test suite, to try execo_g5k without Grid'5000.

    python3 examples/g5k_api_standin.py --port 8000 &
    python3 -c "from execo_g5k import *; g5k_configuration['api_uri'] = 'http://127.0.0.1:8000/3.0/'; print(get_g5k_sites())"
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests"))

from g5k_api_server.__main__ import main  # noqa: E402  (needs the path set above)

if __name__ == "__main__":
    sys.exit(main())
