"""`RpcChain`: the `Chain` port over Solana JSON-RPC 2.0 (aiohttp, with `solders.rpc`'s
request and response types), for `order-engine localnet` here and any cluster elsewhere.
The calls of one event-loop turn (many orders' reads, sends and status checks) go out as
one JSON-RPC batch (`RpcBatcher`).

Reads are retried with exponential backoff when the node does not answer, answers 429/5xx
or a transient RPC error; a send is not retried here (the venue sends the same bytes again
while it waits, which a cluster executes once). Errors map into the engine's tree:
`ChainUnavailableError` (transient) and `TransactionRejectedError` (final for those bytes).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any, NoReturn, TypeVar

import httpx
from solders.account_decoder import UiAccountEncoding
from solders.commitment_config import CommitmentLevel
from solders.errors import SerdeJSONError
from solders.pubkey import Pubkey
from solders.rpc.config import (
    RpcAccountInfoConfig,
    RpcSendTransactionConfig,
    RpcSignaturesForAddressConfig,
    RpcSignatureStatusConfig,
    RpcSimulateTransactionConfig,
    RpcTransactionConfig,
)
from solders.rpc.requests import (
    GetBalance,
    GetBlockHeight,
    GetGenesisHash,
    GetLatestBlockhash,
    GetMultipleAccounts,
    GetSignaturesForAddress,
    GetSignatureStatuses,
    GetSlot,
    GetTransaction,
    RequestAirdrop,
    SendRawTransaction,
    SimulateVersionedTransaction,
)
from solders.rpc.responses import (
    GetBalanceResp,
    GetBlockHeightResp,
    GetGenesisHashResp,
    GetLatestBlockhashResp,
    GetMultipleAccountsResp,
    GetSignaturesForAddressResp,
    GetSignatureStatusesResp,
    GetSlotResp,
    GetTransactionResp,
    RequestAirdropResp,
    SendTransactionResp,
    SimulateTransactionResp,
)
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import UiTransactionEncoding

from order_engine.adapters.rpc_details import details_of, status_of
from order_engine.adapters.rpc_transport import (
    DEFAULT_BATCH_MAX,
    DEFAULT_MAX_IN_FLIGHT,
    LOOK,
    READ,
    SEND,
    AiohttpTransport,
    HttpxTransport,
    RequestRefusedError,
    RequestTooLargeError,
    RpcBatcher,
    RpcTransport,
)
from order_engine.chain.balances import custom_error_of
from order_engine.chain.port import (
    CLOCK_SYSVAR,
    AccountInfo,
    LatestBlockhash,
    SignatureStatus,
    Simulation,
    TransactionDetails,
    clock_unix,
)
from order_engine.domain.errors import ChainUnavailableError, TransactionRejectedError

log = logging.getLogger(__name__)
MAX_ACCOUNTS_PER_CALL = 100  # getMultipleAccounts' limit
TRANSIENT_RPC_CODES = frozenset({-32004, -32005, -32007, -32009, -32014, -32016, -32603})
R = TypeVar("R")


def _raise_rpc_error(text: str) -> NoReturn:
    """A JSON-RPC error answer as `ChainUnavailableError` (a transient code) or
    `TransactionRejectedError`; an answer that is not JSON-RPC at all is transient."""
    try:
        error = json.loads(text)["error"]
        code, message = error.get("code"), error.get("message", "")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ChainUnavailableError(f"unreadable RPC answer: {text[:120]!r}") from exc
    if code in TRANSIENT_RPC_CODES:
        raise ChainUnavailableError(f"RPC error {code}: {message}")
    raise TransactionRejectedError(f"RPC error {code}: {message}")


class RpcChain:
    """A Solana cluster behind one JSON-RPC URL. Build with `await RpcChain.connect(url)`."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        read_attempts: int = 4,
        backoff_s: float = 0.1,
        skip_preflight: bool = True,
        client: httpx.AsyncClient | None = None,
        batch_max: int = DEFAULT_BATCH_MAX,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self.url = url
        self._transport: RpcTransport = (
            AiohttpTransport(url, timeout_s) if client is None else HttpxTransport(url, client)
        )
        self._batcher = RpcBatcher(self._send_raw, batch_max, max_in_flight)
        self._attempts, self._backoff_s = read_attempts, backoff_s
        self._skip_preflight = skip_preflight
        self._genesis = ""
        self.round_trips = 0  # HTTP requests sent (benchmarks count them)

    @classmethod
    async def connect(cls, url: str, **options: Any) -> RpcChain:
        """Connect and learn which chain this is (`getGenesisHash`)."""
        chain = cls(url, **options)
        try:
            found = await chain._read(GetGenesisHash(), GetGenesisHashResp)
        except BaseException:
            await chain.close()
            raise
        chain._genesis = str(found.value)
        return chain

    @property
    def genesis_hash(self) -> str:
        return self._genesis

    # ---- transport -------------------------------------------------------------------
    async def _post(self, body: str, stage: int = READ) -> str:
        """The answer to one call; calls made in the same loop turn share a POST (reads
        first, then sends, then looks at transactions: `READ`, `SEND`, `LOOK`)."""
        return await self._batcher.call(body, stage)

    async def _send_raw(self, body: bytes) -> bytes:
        self.round_trips += 1
        status, answer = await self._transport.post(body)
        if status == 429 or status >= 500:
            raise ChainUnavailableError(f"{self.url} answered HTTP {status}")
        if status == 413:
            raise RequestTooLargeError(f"{self.url} answered HTTP 413 (request body too large)")
        if status != 200:
            raise RequestRefusedError(f"{self.url} answered HTTP {status}")
        return answer

    async def _read(self, request: Any, kind: type[R], stage: int = READ) -> R:
        """A read, retried with backoff while the node is unavailable."""
        for attempt in range(1, self._attempts + 1):
            try:
                return self._parse(await self._post(request.to_json(), stage), kind)
            except ChainUnavailableError as exc:
                if attempt == self._attempts:
                    raise
                log.info("RPC read failed (%s); retry %d", exc.message, attempt)
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    @staticmethod
    def _parse(text: str, kind: type[R]) -> R:
        """The answer as `kind`; an error answer raised as the engine's error by its code
        (read from the JSON ourselves: solders' error types lack it, and some shapes make
        its parser panic)."""
        if '"result"' not in text:
            _raise_rpc_error(text)
        try:
            parsed = kind.from_json(text)  # type: ignore[attr-defined]
        except (ValueError, SerdeJSONError) as exc:  # e.g. a result of another shape
            raise ChainUnavailableError(f"unreadable RPC answer: {exc}") from exc
        if not isinstance(parsed, kind):
            _raise_rpc_error(text)
        return parsed

    # ---- reads -----------------------------------------------------------------------
    async def latest_blockhash(self) -> LatestBlockhash:
        found = await self._read(GetLatestBlockhash(), GetLatestBlockhashResp)
        return LatestBlockhash(found.value.blockhash, found.value.last_valid_block_height)

    async def block_height(self) -> int:
        return int((await self._read(GetBlockHeight(), GetBlockHeightResp)).value)

    async def slot(self) -> int:
        return int((await self._read(GetSlot(), GetSlotResp)).value)

    async def unix_time(self) -> int:
        """The Clock sysvar's unix_timestamp."""
        (clock,) = await self.accounts([CLOCK_SYSVAR])
        if clock is None:
            raise ChainUnavailableError("the node has no Clock sysvar")
        return clock_unix(clock.data)

    async def accounts(self, keys: Sequence[Pubkey]) -> list[AccountInfo | None]:
        return (await self.accounts_at(keys))[1]

    async def accounts_at(self, keys: Sequence[Pubkey]) -> tuple[int, list[AccountInfo | None]]:
        """`getMultipleAccounts` (100 keys a call) and the first call's context slot."""
        out: list[AccountInfo | None] = []
        config = RpcAccountInfoConfig(encoding=UiAccountEncoding.Base64)
        slot: int | None = None
        for start in range(0, len(keys), MAX_ACCOUNTS_PER_CALL):
            chunk = list(keys[start : start + MAX_ACCOUNTS_PER_CALL])
            found = await self._read(GetMultipleAccounts(chunk, config), GetMultipleAccountsResp)
            slot = found.context.slot if slot is None else slot
            out.extend(
                None if a is None else AccountInfo(a.lamports, a.owner, bytes(a.data), a.executable)
                for a in found.value
            )
        return (slot if slot is not None else await self.slot()), out

    async def balance(self, key: Pubkey) -> int:
        return int((await self._read(GetBalance(key), GetBalanceResp)).value)

    async def simulate(self, wire: bytes) -> Simulation:
        tx = VersionedTransaction.from_bytes(wire)
        config = RpcSimulateTransactionConfig(sig_verify=True)
        found = await self._read(SimulateVersionedTransaction(tx, config), SimulateTransactionResp)
        value = found.value
        err = None if value.err is None else str(value.err)
        units = int(value.units_consumed or 0)
        return Simulation(err, None if err is None else custom_error_of(err), units,
                          tuple(value.logs or ()))  # fmt: skip

    async def signature_statuses(self, signatures: Sequence[str]) -> list[SignatureStatus | None]:
        request = GetSignatureStatuses(
            [Signature.from_string(s) for s in signatures],
            RpcSignatureStatusConfig(search_transaction_history=True),
        )
        found = await self._read(request, GetSignatureStatusesResp, LOOK)
        return [None if s is None else status_of(s) for s in found.value]

    async def transaction(self, signature: str) -> TransactionDetails | None:
        config = RpcTransactionConfig(  # confirmed: a node answers finalized by default
            encoding=UiTransactionEncoding.Base64,
            commitment=CommitmentLevel.Confirmed,
            max_supported_transaction_version=0,
        )
        request = GetTransaction(Signature.from_string(signature), config)
        found = await self._read(request, GetTransactionResp, LOOK)
        return None if found.value is None else details_of(signature, found.value)

    async def signatures_with_memo(self, address: Pubkey, memo: str) -> list[str]:
        """The signatures of `address`'s latest transactions (up to 1,000) carrying
        `memo`, oldest first (`getSignaturesForAddress` reports memos as "[len] text")."""
        config = RpcSignaturesForAddressConfig(limit=1000)
        found = await self._read(
            GetSignaturesForAddress(address, config), GetSignaturesForAddressResp
        )
        matching = [
            str(item.signature)
            for item in found.value
            if item.memo is not None and item.memo.split("] ", 1)[-1] == memo
        ]
        return list(reversed(matching))

    # ---- writes ----------------------------------------------------------------------
    async def send(self, wire: bytes) -> str:
        config = RpcSendTransactionConfig(skip_preflight=self._skip_preflight)
        text = await self._post(SendRawTransaction(wire, config).to_json(), SEND)
        return str(self._parse(text, SendTransactionResp).value)

    async def request_airdrop(self, key: Pubkey, lamports: int) -> str:
        """`requestAirdrop` (a cluster's faucet: `order-engine localnet`, devnet); the
        airdrop's signature. Not retried (a faucet pays each request)."""
        text = await self._post(RequestAirdrop(key, lamports).to_json(), SEND)
        return str(self._parse(text, RequestAirdropResp).value)

    async def close(self) -> None:
        await self._transport.close()
