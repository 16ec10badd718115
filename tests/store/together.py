"""Stores opened at the same moment from threads: processes starting together on one database."""

from __future__ import annotations

import threading

from store import Store


def open_together(stores: list[Store]) -> list[BaseException]:
    """Opens every store at once (a barrier lets them go together); what each raised."""
    start = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def open_(store: Store) -> None:
        start.wait()
        try:
            store.open()
        except BaseException as err:  # reported by the caller, in the test's thread
            failures.append(err)

    threads = [threading.Thread(target=open_, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures
