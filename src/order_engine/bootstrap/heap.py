"""The collector and a long-running process: what startup built (modules, tables, programs,
pools, the token list) lives as long as the process, so it is moved out of the cyclic
collector's reach once startup is done (`gc.freeze`); a full collection then walks only what
the load made since. Only the command-line processes do this (a test process builds and
drops many engines: freezing would keep their cycles)."""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup_heap() -> None:
    gc.collect()
    gc.freeze()
    log.debug("startup heap frozen: %d objects out of the collector's walks", gc.get_freeze_count())
