"""Building and sending one leg of a route: the venue builds and signs the swap (its
signature is the leg's before anything is sent), then sends it and waits for its outcome.
A send that errs is settled at once (did it reach the venue anyway?); an outcome that
cannot be known yet leaves the leg as sent, for the next attempt to settle first."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal

from order_engine.domain.errors import ExecutionError
from order_engine.domain.event_payloads import SentLeg, Submitted
from order_engine.domain.legs import Leg, LegState
from order_engine.domain.quotes import Quote
from order_engine.domain.tokens import Token
from order_engine.engine.settlement import NOT_SENT, confirm_leg, settle_leg
from order_engine.venues.base import SwapTransaction, Venue

log = logging.getLogger(__name__)
Send = tuple[Venue, SwapTransaction, Leg]


async def build_leg(
    venue: Venue, order_id: str, quote: Quote, floor: Decimal, attempt: int, t_in: Token,
    t_out: Token, *, hop: int = 0, via: str | None = None, owner: str | None = None,
) -> Send:  # fmt: skip
    """Build and sign the leg (by `owner`'s wallet: the order's account id)."""
    tx = await venue.build(
        quote, token_in=t_in, token_out=t_out, min_amount_out=floor, order_id=order_id,
        owner=owner,
    )  # fmt: skip
    leg = Leg(
        venue.name, tx.signature, quote.amount_in, floor, attempt, signed=tx.signed, hop=hop,
        via=via,
    )  # fmt: skip
    return venue, tx, leg


async def send_leg(venues: Mapping[str, Venue], venue: Venue, tx: SwapTransaction, leg: Leg) -> Leg:
    try:
        await venue.submit(tx)
    except ExecutionError as exc:
        log.info("sending %s to %s failed: %s", tx.signature, venue.name, exc.message)
        try:
            settled = await settle_leg(venues, leg)  # did it reach the venue anyway?
        except ExecutionError:
            return leg
        if settled.state is LegState.FAILED and settled.code == NOT_SENT:
            return leg.failed(exc.message, exc.code)  # it did not: say why
        return settled
    try:
        return await confirm_leg(venue, leg)
    except ExecutionError:
        return leg  # unknown for now: the next attempt settles it before anything else


def submitted(sends: list[Send]) -> Submitted:
    """The `submitted` event: every leg with its transaction's steps."""
    return Submitted(tuple(SentLeg(leg, tuple(tx.steps)) for _, tx, leg in sends))
