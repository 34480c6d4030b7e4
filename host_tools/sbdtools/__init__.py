"""sbdtools: host tools for the sbd SDK (the `sbd` command)."""

__version__ = "0.1.0"
