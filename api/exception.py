"""execo 2.8 named this module execo.exception: old imports keep working."""

from .exceptions import ActionsFailed, ProcessesFailed

__all__ = ["ActionsFailed", "ProcessesFailed"]
