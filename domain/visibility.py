"""Search attributes by name and kind: what the Web UI, the CLI and the inbox filter by.

Pure names (no Temporal import): each process's contract lists its own; the workflows and the
kernel build typed keys from these, so a name is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """Temporal's indexed value types, spelled as `temporal server start-dev` takes them."""

    KEYWORD = "Keyword"
    DOUBLE = "Double"
    DATETIME = "Datetime"
    KEYWORD_LIST = "KeywordList"


@dataclass(frozen=True)
class SearchAttribute:
    name: str
    kind: Kind


# Every process kind keeps this current: when its status last changed (the watchdog's "stalled"
# rules and the incident console's "state since" filter read it).
STATE_SINCE = SearchAttribute("StateSince", Kind.DATETIME)
# The status of the process kinds after orders and approvals (the sync, alerts, repairs, purchases):
# one keyword for all, since SQL visibility allows only 10 Keyword attributes per namespace.
PROCESS_STATUS = SearchAttribute("ProcessStatus", Kind.KEYWORD)
