"""Fixtures that start real OpenSSH servers on loopback addresses (filled in by the SSH work)."""
