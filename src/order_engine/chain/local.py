"""Opening the local (in-process) chain: a new one from its genesis, or the one the data
directory holds, restored from its journal."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from order_engine.chain.faults import ChainFaults
from order_engine.chain.genesis import GenesisBuilder, GenesisSpec, run_genesis
from order_engine.chain.inprocess import InProcessChain
from order_engine.chain.journal import ChainJournal
from order_engine.chain.launches import ChainLaunches
from order_engine.chain.programs import ProgramBinaries
from order_engine.domain.tokens import TokenRegistry

log = logging.getLogger(__name__)
CHAIN_FILE = "chain.db"
GENESIS_KEY = "genesis_hash"


class ChainMismatchError(Exception):
    """The data directory holds a chain with another genesis."""


@dataclass(frozen=True, slots=True)
class LocalChain:
    chain: InProcessChain
    launches: ChainLaunches
    restored: bool  # False: created from its genesis just now


def open_local_chain(
    binaries: ProgramBinaries,
    spec: GenesisSpec,
    *,
    tokens: TokenRegistry,
    data_dir: Path | None,
    slot_s: float = 0.4,
    instant: bool = False,
    faults: ChainFaults | None = None,
    now: Callable[[], float] = time.time,
) -> LocalChain:
    """The chain in `data_dir` (None: in memory only), created from `spec` if new; its
    launches register launched tokens in `tokens`."""
    genesis_hash = spec.digest(binaries.digest)
    journal = None if data_dir is None else ChainJournal(data_dir / CHAIN_FILE)
    chain = InProcessChain(
        binaries, genesis_hash=genesis_hash, slot_s=slot_s, instant=instant, journal=journal,
        faults=faults,
        now=now,
    )  # fmt: skip
    started = time.perf_counter()
    if journal is not None and not journal.is_empty():
        known = journal.meta(GENESIS_KEY)
        if known != genesis_hash:
            journal.close()
            raise ChainMismatchError(
                f"{journal.path} holds another chain (genesis {str(known)[:12]}, this "
                f"engine's would be {genesis_hash[:12]}: another seed, wallet or program "
                "binaries); move it away to start a new chain"
            )
        replayed = chain.replay(journal)
        log.info(
            "local chain restored from %s: %d journal entries in %.2fs",
            journal.path, replayed, time.perf_counter() - started,
        )  # fmt: skip
        launches = ChainLaunches(GenesisBuilder(chain, spec), tokens)
        return LocalChain(chain, launches, restored=True)
    if journal is not None:
        journal.set_meta(GENESIS_KEY, genesis_hash)
        journal.set_meta("origin", repr(chain.clock.origin))
    builder = run_genesis(chain, spec)
    log.info("local chain created (genesis %s) in %.2fs", genesis_hash[:12],
             time.perf_counter() - started)  # fmt: skip
    return LocalChain(chain, ChainLaunches(builder, tokens), restored=False)
