"""Fixtures that serve the Grid5000 stand-ins on 127.0.0.1 (filled in by the Grid5000 work)."""
