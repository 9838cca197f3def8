"""Settling the legs of a route: ask the venue how each recorded transaction ended.

Used after sending and, above all, before anything is sent again: a retried or recovered
attempt settles every leg an earlier attempt recorded, so a transaction that reached the
chain is waited for, never replaced by a second one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from order_engine.domain.errors import (
    ChainChangedError,
    ExecutionError,
    InsufficientFundsError,
    PermanentExecutionError,
    SlippageExceededError,
    TransactionExpiredError,
    TransactionRejectedError,
    VenueUnavailableError,
)
from order_engine.domain.legs import Leg, LegState
from order_engine.venues.base import TxState, Venue

log = logging.getLogger(__name__)
# A swap instruction checks one thing on chain, the minimum output: a reverted swap is a
# slippage failure. A transaction the venue never received failed as the venue did.
NOT_SENT = VenueUnavailableError.code


def failure_of(legs: list[Leg]) -> ExecutionError:
    """The error that explains why `legs` (failed ones) did not fill, typed by their codes."""
    message = "; ".join(leg.reason or leg.dex for leg in legs)
    codes = {leg.code for leg in legs}
    for error in (InsufficientFundsError, TransactionRejectedError, SlippageExceededError):
        if error.code in codes:
            return error(message)
    return VenueUnavailableError(message)


async def settle_leg(venues: Mapping[str, Venue], leg: Leg) -> Leg:
    """The leg once final. Raises a transient error while its outcome cannot be known."""
    if leg.state is not LegState.SENT:
        return leg
    venue = venues.get(leg.dex)
    if venue is None:
        raise VenueUnavailableError(f"venue {leg.dex} of transaction {leg.tx_hash} is gone")
    if leg.signed is not None and not venue.signed_here(leg.signed):
        raise ChainChangedError(
            f"transaction {leg.tx_hash} was sent to another chain (genesis "
            f"{leg.signed.chain[:12] or 'unknown'}) than the one this engine runs on; whether "
            "it executed cannot be known here, so nothing is sent again"
        )
    status = await venue.status(leg.tx_hash)
    if status.state is TxState.UNKNOWN:
        if leg.signed is not None and await venue.resend(leg.signed):
            log.info(
                "transaction %s unseen by %s and still valid: sent again", leg.tx_hash, leg.dex
            )
            return await confirm_leg(venue, leg)
        return leg.failed(f"{leg.dex}: the transaction never reached the venue", NOT_SENT)
    if status.state is TxState.LANDED and status.execution is not None:
        log.info("transaction %s on %s landed; not re-sending", leg.tx_hash, leg.dex)
        return leg.landed(status.execution.amount_out, status.execution.receipt)
    if status.state is TxState.REVERTED:
        reason = f"{leg.dex}: the swap reverted ({status.reason or 'no reason given'})"
        return leg.failed(reason, SlippageExceededError.code)
    return await confirm_leg(venue, leg)


async def confirm_leg(venue: Venue, leg: Leg) -> Leg:
    """Wait for a sent leg to land or revert (or expire unseen)."""
    try:
        execution = await venue.confirm(leg.tx_hash, signed=leg.signed)
    except TransactionExpiredError as exc:
        return leg.failed(exc.message, NOT_SENT)
    except (SlippageExceededError, PermanentExecutionError) as exc:
        return leg.failed(exc.message, exc.code)
    return leg.landed(execution.amount_out, execution.receipt)


async def settle_all(
    venues: Mapping[str, Venue], legs: list[Leg]
) -> tuple[list[Leg], ExecutionError | None]:
    """Every leg settled, concurrently, in order; a leg whose outcome cannot be known yet
    stays `SENT`, and the first such error is returned beside the legs."""
    results = await asyncio.gather(
        *(settle_leg(venues, leg) for leg in legs), return_exceptions=True
    )
    settled: list[Leg] = []
    error: ExecutionError | None = None
    for leg, result in zip(legs, results, strict=True):
        if isinstance(result, Leg):
            settled.append(result)
        elif isinstance(result, ExecutionError):
            log.warning("transaction %s on %s unsettled: %s", leg.tx_hash, leg.dex, result)
            settled.append(leg)
            error = error or result
        else:
            raise result
    return settled, error
