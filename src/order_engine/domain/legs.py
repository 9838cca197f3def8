"""The legs of an order's route: one signed swap per venue, recorded before it is sent.

A market order may be split across venues (e.g. 70% Raydium, 30% Meteora). Each leg is its
own transaction: it is written down (`SENT`, with its signature) before it is sent, so that
after a crash or a retry the engine asks the venue about every leg instead of sending it
again. A leg ends `LANDED` (with what it delivered) or `FAILED` (nothing executed: it
reverted, or it never reached the chain).

What the user sees when a split fills only partly: the legs that failed are re-quoted and
re-routed, for the amount they did not fill, within the attempt budget. If attempts run out
with some of the order filled, the order is `confirmed` with `partial: true`, the filled and
unfilled input and every leg's outcome; if nothing was filled, it is `failed`.

A route through an intermediate token (`via`, e.g. BONK → SOL → JUP) has two hops: the
first hop's legs sell tokenIn for `via` (`hop` 1), then the second hop's sell what they
delivered for tokenOut (`hop` 2). A direct leg has `hop` 0. What the first hop delivered and
no second-hop leg has taken yet is *held* (`held`): the next step sells it before any more
tokenIn is routed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from order_engine.domain.amounts import money
from order_engine.domain.quotes import plain, quantize

PRICE_PLACES = 12


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where a transaction landed and what it cost: its slot, fee (lamports) and compute
    units."""

    slot: int
    fee_lamports: int
    compute_units: int

    def as_dict(self) -> dict[str, Any]:
        return {"slot": self.slot, "fee": self.fee_lamports, "computeUnits": self.compute_units}


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed transaction's bytes (base64) and the last block height its blockhash is
    valid for: written before it is sent, so a retry can resend the same bytes while
    they are valid and sign anew only once they have expired unseen. `chain` names the
    chain they were signed for (its genesis hash): on another chain their fate is unknown."""

    wire: str
    last_valid_block_height: int
    chain: str = ""


class LegState(StrEnum):
    SENT = "sent"  # signature recorded; the venue may or may not have it
    LANDED = "landed"
    FAILED = "failed"  # nothing executed


@dataclass(frozen=True, slots=True)
class Leg:
    dex: str
    tx_hash: str
    amount_in: Decimal
    min_amount_out: Decimal
    attempt: int
    state: LegState = LegState.SENT
    amount_out: Decimal | None = None
    reason: str | None = None
    code: str | None = None  # why it failed, as an error code (e.g. slippage_exceeded)
    signed: SignedTx | None = None  # chain venues: the bytes sent
    receipt: Receipt | None = None  # chain venues: where it landed
    hop: int = 0  # 0: tokenIn -> tokenOut; 1: tokenIn -> via; 2: via -> tokenOut
    via: str | None = None  # the intermediate token of a two-hop route

    def landed(self, amount_out: Decimal, receipt: Receipt | None = None) -> Leg:
        return replace(self, state=LegState.LANDED, amount_out=amount_out, receipt=receipt)

    def failed(self, reason: str, code: str) -> Leg:
        return replace(self, state=LegState.FAILED, reason=reason, code=code)

    @property
    def executed_price(self) -> Decimal | None:
        if self.amount_out is None:
            return None
        return quantize(self.amount_out / self.amount_in, PRICE_PLACES)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dex": self.dex,
            "txHash": self.tx_hash,
            "amountIn": plain(self.amount_in),
            "minAmountOut": money(self.min_amount_out),
            "attempt": self.attempt,
            "state": self.state.value,
        }
        if self.amount_out is not None:
            out["amountOut"] = money(self.amount_out)
            price = self.executed_price
            out["executedPrice"] = None if price is None else money(price)
        if self.code is not None:
            out["error"] = {"code": self.code, "message": self.reason or ""}
        if self.signed is not None:
            out["lastValidBlockHeight"] = self.signed.last_valid_block_height
        if self.hop:
            out["hop"], out["via"] = self.hop, self.via
        if self.receipt is not None:
            out.update(self.receipt.as_dict())
        return out

    def as_record(self) -> dict[str, Any]:
        """`as_dict` and the signed bytes: what the store keeps."""
        out = self.as_dict()
        if self.signed is not None:
            out["wire"] = self.signed.wire
            out["chain"] = self.signed.chain
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Leg:
        out = raw.get("amountOut")
        error = raw.get("error") or {}
        return cls(
            str(raw["dex"]),
            str(raw["txHash"]),
            Decimal(raw["amountIn"]),
            Decimal(raw["minAmountOut"]),
            int(raw["attempt"]),
            LegState(raw["state"]),
            None if out is None else Decimal(out),
            error.get("message"),
            error.get("code"),
            _signed(raw),
            _receipt(raw),
            int(raw.get("hop") or 0),
            raw.get("via"),
        )


def _signed(raw: dict[str, Any]) -> SignedTx | None:
    if raw.get("wire") is None:
        return None
    return SignedTx(str(raw["wire"]), int(raw["lastValidBlockHeight"]), str(raw.get("chain", "")))


def _receipt(raw: dict[str, Any]) -> Receipt | None:
    if raw.get("slot") is None:
        return None
    return Receipt(int(raw["slot"]), int(raw["fee"]), int(raw["computeUnits"]))


@dataclass(frozen=True, slots=True)
class Fill:
    """What the landed legs add up to: `legs` are those that delivered tokenOut (direct or
    second-hop), `route` every landed leg; `amount_in` is the tokenIn behind that output
    (a second hop's share of what its first hop sold)."""

    amount_in: Decimal
    amount_out: Decimal
    min_amount_out: Decimal
    legs: tuple[Leg, ...]
    route: tuple[Leg, ...] = ()

    @classmethod
    def of(cls, legs: Iterable[Leg]) -> Fill:
        landed = tuple(leg for leg in legs if leg.state is LegState.LANDED)
        final = tuple(leg for leg in landed if leg.hop != 1)
        amount_in = sum((leg.amount_in for leg in final if leg.hop == 0), Decimal(0))
        for via in dict.fromkeys(leg.via for leg in final if leg.hop == 2):
            first_in, first_out = _sums(landed, 1, via)
            second_in, _ = _sums(landed, 2, via)
            if first_out > 0:
                amount_in += first_in * min(second_in / first_out, Decimal(1))
        return cls(
            amount_in,
            sum((leg.amount_out or Decimal(0) for leg in final), Decimal(0)),
            sum((leg.min_amount_out for leg in final), Decimal(0)),
            final,
            landed,
        )

    @property
    def dex(self) -> str:
        """The venues that filled, in leg order ("raydium", or "raydium+meteora")."""
        return "+".join(dict.fromkeys(leg.dex for leg in self.route or self.legs))

    @property
    def executed_price(self) -> Decimal:
        return quantize(self.amount_out / self.amount_in, PRICE_PLACES)


def _sums(legs: Iterable[Leg], hop: int, via: str | None) -> tuple[Decimal, Decimal]:
    """Input and output of the landed legs of one hop through `via`."""
    chosen = [leg for leg in legs if leg.hop == hop and leg.via == via]
    return (
        sum((leg.amount_in for leg in chosen), Decimal(0)),
        sum((leg.amount_out or Decimal(0) for leg in chosen), Decimal(0)),
    )


@dataclass(frozen=True, slots=True)
class Held:
    """Intermediate tokens a first hop delivered that no second hop has sold yet, and the
    tokenIn that bought them (what a limit price is measured against)."""

    via: str
    amount: Decimal
    bought_with: Decimal


def held(legs: Sequence[Leg]) -> list[Held]:
    """What the landed first-hop legs delivered, less what second-hop legs (landed or still
    unsettled) took, per intermediate token."""
    out: list[Held] = []
    for via in dict.fromkeys(leg.via for leg in legs if leg.hop == 1 and leg.via):
        first_in, first_out = _sums((leg for leg in legs if leg.state is LegState.LANDED), 1, via)
        taken = sum(
            (leg.amount_in for leg in legs
             if leg.hop == 2 and leg.via == via and leg.state is not LegState.FAILED),
            Decimal(0),
        )  # fmt: skip
        if first_out > taken:
            left = first_out - taken
            out.append(Held(via, left, first_in * left / first_out))
    return out


def unsettled(legs: Sequence[Leg]) -> list[Leg]:
    return [leg for leg in legs if leg.state is LegState.SENT]


def landed(legs: Sequence[Leg]) -> list[Leg]:
    return [leg for leg in legs if leg.state is LegState.LANDED]


def unfilled(amount_in: Decimal, legs: Sequence[Leg]) -> Decimal:
    """tokenIn not yet covered by a landed or a still-unsettled (direct or first-hop) leg."""
    covered = sum(
        (leg.amount_in for leg in legs if leg.state is not LegState.FAILED and leg.hop != 2),
        Decimal(0),
    )
    return amount_in - covered
