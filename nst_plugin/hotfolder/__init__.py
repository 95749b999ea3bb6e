"""The hot folder behind `nst watch INBOX`: every image dropped into a folder is stylized once.

A watcher takes each file once it has settled, runs it through a JobRunner, puts the result
in INBOX/out and moves the original to INBOX/done (or INBOX/failed, with a one-sentence
.error.txt). Nothing is deleted or overwritten, through crashes, restarts and several
watchers sharing a folder. docs/HOTFOLDER.md describes the protocol; the modules:

    loop.py       the Watcher: claim, run, publish, finish
    inbox.py      scanning, settling, which names are jobs, watchdog observers, claiming
    workarea.py   INBOX/.nst-work: lock files, heartbeat, dead watchers, adoption
    spec.py       WatchConfig, and each file's job: sidecar, styles, settings, output name
    record.py     the commit record in a work folder
    status.py     log lines and the live status line
"""

from __future__ import annotations

from .loop import Watcher
from .spec import DEFAULT_NAME, WatchConfig

__all__ = ["DEFAULT_NAME", "WatchConfig", "Watcher"]
