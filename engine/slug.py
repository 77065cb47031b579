"""slugify: any value as a safe file-name component."""

from __future__ import annotations

import re
import unicodedata
from typing import Any


def slugify(value: Any, separator: str = "-") -> str:
    """``str(value)`` reduced to lowercase ASCII letters, digits, ``_`` and `separator`.

    Accents are stripped (NFKD), other punctuation dropped, and runs of whitespace or
    separators become one separator: ``{'a b': 'C/d'}`` gives ``a-b-cd``.
    Handy to name a result file after a combination.
    """
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub("[%s\\s]+" % re.escape(separator), separator, text)
