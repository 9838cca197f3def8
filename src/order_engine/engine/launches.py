"""Token launches: announce one (the admin endpoint, the CLI, a schedule), and apply every
launch any process announces — open the pool on the simulated venue, then wake the sniper
orders waiting for it, in the same event-loop turn.

On a shared chain the launching process opens the pool itself before it announces the
launch (`prepare`): every process then only learns the new token when applying it."""

from __future__ import annotations

import logging
import struct
from collections.abc import Awaitable, Callable, Collection

from order_engine.domain.amounts import money
from order_engine.domain.errors import (
    AlreadyLaunchedError,
    EngineError,
    PermanentExecutionError,
    RequestError,
)
from order_engine.domain.launches import (
    MAX_DEPTH_USD,
    MIN_DEPTH_USD,
    Launch,
    LaunchRequest,
    check_symbol,
)
from order_engine.domain.limits import check_limit_price
from order_engine.domain.tokens import TokenRegistry
from order_engine.engine.ports import Clock, LaunchBoard
from order_engine.engine.waiting_orders import WaitingOrders

log = logging.getLogger(__name__)
MAX_DECIMALS = 12
# what opening a pool raises when the launch's numbers do not fit it (u64 overflow, a side
# of less than a unit, a price the program cannot represent): the launch is refused
CANNOT_OPEN = (ValueError, ArithmeticError, struct.error)


def _cannot_open(launch: Launch) -> RequestError:
    return RequestError(
        f"a {launch.venue} pool for {launch.symbol} cannot open at price "
        f"{money(launch.price)} {launch.quote} with depthUsd {money(launch.depth_usd)} and "
        f"{launch.decimals} decimals: one side would hold too few or too many units; "
        "change price, depthUsd or decimals",
        field="price",
    )


class TokenLaunches:
    def __init__(
        self,
        board: LaunchBoard,
        waiting: WaitingOrders,
        clock: Clock,
        *,
        tokens: TokenRegistry,
        venues: Collection[str],
        open_pools: Callable[[Launch], bool],
        new_mint: Callable[[], str],
        prepare: Callable[[Launch], Awaitable[None]] | None = None,
    ) -> None:
        self._board, self._waiting, self._clock = board, waiting, clock
        self._tokens = tokens
        self._venues, self._open_pools, self._new_mint = set(venues), open_pools, new_mint
        self._prepare = prepare
        self._applied: set[str] = set()
        self._preparing: set[str] = set()  # symbols this process is launching now

    async def start(self) -> None:
        """Apply every launch so far and every one announced from now on (listen first,
        then read, so none falls in between; repeats are ignored)."""
        await self._board.listen(self.apply)
        for launch in await self._board.launches():
            await self.apply(launch)

    async def launch(self, request: LaunchRequest) -> Launch:
        """Validate, prepare (if this engine's chain needs the pool opened first: an
        `EngineError` from it announces nothing) and announce a launch.
        `AlreadyLaunchedError` if the symbol trades."""
        launch = self._validated(request)
        if self._prepare is None:
            self._open_here(launch)  # refused (422) here, or applied whole everywhere
            await self._announce(launch)
        else:
            await self._prepare_and_announce(launch, self._prepare)
        log.info(
            "launched %s on %s at %s %s", launch.symbol, launch.venue, launch.price, launch.quote
        )
        return launch

    def _open_here(self, launch: Launch) -> None:
        """Open the pool in this process before announcing the launch: every process
        applies it with the same code, so a launch that cannot open is refused now instead
        of being announced half-applied."""
        try:
            self._open_pools(launch)
        except (*CANNOT_OPEN, PermanentExecutionError) as exc:  # e.g. the program refused it
            self._tokens.unregister(launch.symbol)
            log.warning("launch of %s refused: %s", launch.symbol, exc)
            raise _cannot_open(launch) from exc

    async def _announce(self, launch: Launch) -> None:
        if not await self._board.announce(launch):
            raise AlreadyLaunchedError(f"{launch.symbol} was launched already")

    async def _prepare_and_announce(
        self, launch: Launch, prepare: Callable[[Launch], Awaitable[None]]
    ) -> None:
        """Prepare, then announce: one symbol at a time in this process, and never for a
        symbol any process announced already (its pool would be left unused)."""
        symbol = launch.symbol
        if symbol in self._preparing:
            raise AlreadyLaunchedError(f"{symbol} is being launched")
        self._preparing.add(symbol)
        try:
            if any(known.symbol == symbol for known in await self._board.launches()):
                raise AlreadyLaunchedError(f"{symbol} was launched already")
            try:
                await prepare(launch)
            except CANNOT_OPEN as exc:
                log.warning("launch of %s refused: %s", symbol, exc)
                raise _cannot_open(launch) from exc
            await self._announce(launch)
        finally:
            self._preparing.discard(symbol)

    def _validated(self, request: LaunchRequest) -> Launch:
        symbol = check_symbol(request.symbol, field="symbol")
        if symbol in self._tokens:
            raise AlreadyLaunchedError(f"{symbol} already trades")
        if request.venue not in self._venues:
            names = ", ".join(sorted(self._venues))
            raise RequestError(f"venue must be one of {names}", field="venue")
        quote = self._tokens.find(request.quote, field="quote")
        check_limit_price(request.price, field="price")
        if not 0 <= request.decimals <= MAX_DECIMALS:
            raise RequestError(f"decimals must be from 0 to {MAX_DECIMALS}", field="decimals")
        if not request.depth_usd.is_finite() or not (
            MIN_DEPTH_USD <= request.depth_usd <= MAX_DEPTH_USD
        ):
            raise RequestError(
                f"depthUsd must be from {MIN_DEPTH_USD} to {MAX_DEPTH_USD}", field="depthUsd"
            )
        return Launch(
            symbol,
            self._new_mint(),
            request.decimals,
            request.venue,
            quote.symbol,
            request.price,
            request.depth_usd,
            self._clock.now_ms(),
        )

    async def apply(self, launch: Launch) -> None:
        """Open the pool (if one of this process's venues holds it) and wake the snipers."""
        if launch.symbol in self._applied:
            return
        self._applied.add(launch.symbol)
        try:
            self._open_pools(launch)
        except (ValueError, EngineError) as exc:  # e.g. a symbol this process knows otherwise
            log.error("cannot apply the launch of %s: %s", launch.symbol, exc)
            return
        fired = await self._waiting.on_launch(launch)
        log.info(
            "pool %s/%s opened on %s; %d sniper orders fired",
            launch.symbol,
            launch.quote,
            launch.venue,
            fired,
        )

    async def launches(self) -> list[Launch]:
        return await self._board.launches()
