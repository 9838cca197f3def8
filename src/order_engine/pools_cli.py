"""`order-engine pools discover --rpc URL --pair SOL/USDC [--venue raydium|meteora]`: the
pools of a pair on any Solana cluster, found with filtered `getProgramAccounts`.

Raydium CPMM: PoolState accounts of the PoolState size whose mint0 and mint1 (ordered by
raw bytes, as the program orders them) are the pair's; each pool's vault balances come from
`getMultipleAccounts`. Meteora DLMM: LbPair accounts (discriminator, size) with the pair's
token X and Y mints, in either order; each pair's active bin id and bin step are decoded
from the account. SOL trades as the wSOL mint. One line per pool on stdout; exit 0 when
any is found, 1 when none is, 2 with one line on stderr on errors.
"""

from __future__ import annotations

import dataclasses
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
from solders.account_decoder import UiAccountEncoding
from solders.pubkey import Pubkey
from solders.rpc.config import RpcAccountInfoConfig, RpcProgramAccountsConfig
from solders.rpc.filter import Memcmp
from solders.rpc.requests import GetMultipleAccounts, GetProgramAccounts
from solders.rpc.responses import GetMultipleAccountsResp, GetProgramAccountsResp

from order_engine.chain import dlmm, raydium
from order_engine.chain.spl import anchor_account_discriminator
from order_engine.domain.errors import RequestError
from order_engine.domain.tokens import Token, TokenRegistry
from order_engine.venues.chain.pools_file import PoolsFileError, read_pools_file

VENUES: Final = ("raydium", "meteora")
RPC_TIMEOUT_S = 30.0
DISCRIMINATOR_SIZE: Final = 8
PUBKEY_SIZE: Final = 32
# PoolState: the discriminator, the packed fields `decode_pool_state` reads, [u64; 31] padding.
POOL_STATE_SIZE: Final = 637
_POOL_FIELDS: Final = [f.name for f in dataclasses.fields(raydium.CpmmPoolState)]
# Its first ten fields are pubkeys, in layout order.
POOL_MINT0_OFFSET: Final = DISCRIMINATOR_SIZE + PUBKEY_SIZE * _POOL_FIELDS.index("mint0")
POOL_MINT1_OFFSET: Final = DISCRIMINATOR_SIZE + PUBKEY_SIZE * _POOL_FIELDS.index("mint1")
# LbPair (IDL 0.12.0): token_x_mint and token_y_mint follow the 88-byte head (bin_step @80,
# status, base factor seed, activation type, on/off control); reserve_x … protocol_fee @216.
LB_PAIR_SIZE: Final = 904
LB_PAIR_TOKEN_X_OFFSET: Final = 88
LB_PAIR_TOKEN_Y_OFFSET: Final = LB_PAIR_TOKEN_X_OFFSET + PUBKEY_SIZE
LB_PAIR_DISCRIMINATOR: Final = anchor_account_discriminator("LbPair")
TOKEN_AMOUNT_OFFSET: Final = 64  # in an SPL token account: mint, owner, then the u64 amount
_BASE58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

Filter = int | Memcmp


class DiscoverError(Exception):
    """Why the pools could not be looked up (one line)."""


@dataclass(frozen=True, slots=True)
class FoundPool:
    venue: str
    address: Pubkey
    base: Pubkey
    quote: Pubkey
    detail: str

    def line(self) -> str:
        return f"{self.venue} {self.address} base {self.base} quote {self.quote} {self.detail}"

    def toml(self, pair: str) -> str:
        """The pool as a pools file's `[[pools]]` entry."""
        return (f'[[pools]]  # {self.detail}\nvenue = "{self.venue}"\npair = "{pair}"\n'
                f'address = "{self.address}"\n')  # fmt: skip


def add_commands(sub: Any) -> None:
    """`pools discover` under `sub` (the CLI's subparsers)."""
    pools = sub.add_parser("pools", help="Raydium CPMM pools and Meteora DLMM pairs on a cluster")
    inner = pools.add_subparsers(dest="pools_command", required=True)
    discover_ = inner.add_parser(
        "discover", help="find a pair's pools with getProgramAccounts (JSON-RPC)"
    )
    discover_.add_argument("--rpc", required=True, help="the cluster's JSON-RPC URL")
    discover_.add_argument("--pair", required=True, help="two token symbols, e.g. SOL/USDC")
    discover_.add_argument(
        "--venue", choices=VENUES, default=None, help="one venue only (default both)"
    )
    discover_.add_argument(
        "--toml", action="store_true", help="print [[pools]] entries for a POOLS_FILE"
    )
    discover_.add_argument(
        "--pools-file", type=Path, default=None, help="take the tokens' mints from this file"
    )
    discover_.set_defaults(
        run=lambda a: discover(a.rpc, a.pair, a.venue, toml=a.toml, pools_file=a.pools_file)
    )


def discover(
    rpc_url: str, pair: str, venue: str | None, transport: httpx.BaseTransport | None = None,
    *, toml: bool = False, pools_file: Path | None = None,
) -> int:  # fmt: skip
    """The command: print each pool found; exit 0, 1 when there is none, or 2."""
    try:
        base, quote = parse_pair(pair, _registry(pools_file))
        with httpx.Client(transport=transport, timeout=RPC_TIMEOUT_S) as client:
            found = find_pools(PoolsRpc(client, rpc_url), base, quote, venue)
    except DiscoverError as exc:
        print(f"order-engine: {exc}", file=sys.stderr)
        return 2
    for pool in found:
        print(pool.toml(f"{base.symbol}/{quote.symbol}") if toml else pool.line())
    if not found:
        print(f"order-engine: no pool for {pair} on {rpc_url}", file=sys.stderr)
        return 1
    return 0


def _registry(pools_file: Path | None) -> TokenRegistry:
    if pools_file is None:
        return TokenRegistry()
    try:
        return TokenRegistry(read_pools_file(pools_file, need_pools=False).registry_tokens())
    except PoolsFileError as exc:
        raise DiscoverError(str(exc)) from exc


def parse_pair(text: str, registry: TokenRegistry | None = None) -> tuple[Token, Token]:
    """The (base, quote) tokens of `BASE/QUOTE`; `DiscoverError` for anything else."""
    parts = text.split("/")
    if len(parts) != 2 or not all(part.strip() for part in parts):
        raise DiscoverError(f"--pair must look like SOL/USDC, not {text!r}")
    registry = registry or TokenRegistry()
    try:
        base = registry.find(parts[0].strip(), field="pair")
        quote = registry.find(parts[1].strip(), field="pair")
    except RequestError as exc:
        raise DiscoverError(exc.message) from exc
    if base.swap_mint == quote.swap_mint:
        raise DiscoverError(f"--pair names one asset twice ({base.symbol}/{quote.symbol})")
    return base, quote


def find_pools(rpc: PoolsRpc, base: Token, quote: Token, venue: str | None) -> list[FoundPool]:
    mint_base, mint_quote = _mint(base), _mint(quote)
    found: list[FoundPool] = []
    if venue in (None, "raydium"):
        found += find_raydium(rpc, mint_base, mint_quote)
    if venue in (None, "meteora"):
        found += find_dlmm(rpc, mint_base, mint_quote)
    return found


def _mint(token: Token) -> Pubkey:
    return Pubkey.from_string(token.swap_mint)


def raydium_filters(mint_a: Pubkey, mint_b: Pubkey) -> list[Filter]:
    mint0, mint1 = sorted((mint_a, mint_b), key=bytes)
    return [
        POOL_STATE_SIZE,
        Memcmp(POOL_MINT0_OFFSET, str(mint0)),
        Memcmp(POOL_MINT1_OFFSET, str(mint1)),
    ]


def dlmm_filters(mint_x: Pubkey, mint_y: Pubkey) -> list[Filter]:
    return [
        LB_PAIR_SIZE,
        Memcmp(0, b58encode(LB_PAIR_DISCRIMINATOR)),
        Memcmp(LB_PAIR_TOKEN_X_OFFSET, str(mint_x)),
        Memcmp(LB_PAIR_TOKEN_Y_OFFSET, str(mint_y)),
    ]


def find_raydium(rpc: PoolsRpc, base: Pubkey, quote: Pubkey) -> list[FoundPool]:
    """The CPMM pools of the two mints, with their base and quote vault balances."""
    found = rpc.program_accounts(raydium.RAYDIUM_CPMM_PROGRAM, raydium_filters(base, quote))
    pools = []
    for address, data in found:
        try:
            state = raydium.decode_pool_state(data)
        except ValueError as exc:
            raise DiscoverError(f"{address} is no PoolState we can read: {exc}") from exc
        vaults = {state.mint0: state.vault0, state.mint1: state.vault1}
        balances = rpc.accounts([vaults[base], vaults[quote]])
        amounts = [_token_amount(vault, vault_data) for vault, vault_data in balances]
        detail = f"vaults {amounts[0]} {amounts[1]}"
        pools.append(FoundPool("raydium", address, base, quote, detail))
    return pools


def find_dlmm(rpc: PoolsRpc, base: Pubkey, quote: Pubkey) -> list[FoundPool]:
    """The DLMM pairs of the two mints (X/Y either way), with active bin id and bin step."""
    pairs = []
    for mint_x, mint_y in ((base, quote), (quote, base)):
        for address, data in rpc.program_accounts(dlmm.DLMM_PROGRAM, dlmm_filters(mint_x, mint_y)):
            try:
                state = dlmm.decode_lb_pair(data)
            except ValueError as exc:
                raise DiscoverError(f"{address} is no LbPair we can read: {exc}") from exc
            detail = f"active_bin {state.active_id} bin_step {state.bin_step}"
            pairs.append(FoundPool("meteora", address, mint_x, mint_y, detail))
    return pairs


def b58encode(data: bytes) -> str:
    """Base58 of a memcmp filter's bytes (what Solana's RPC takes by default)."""
    number, out = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        out = _BASE58[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _token_amount(address: Pubkey, data: bytes | None) -> int:
    if data is None or len(data) < TOKEN_AMOUNT_OFFSET + 8:
        raise DiscoverError(f"the vault {address} is no token account")
    (amount,) = struct.unpack_from("<Q", data, TOKEN_AMOUNT_OFFSET)
    return int(amount)


class PoolsRpc:
    """`getProgramAccounts` and `getMultipleAccounts` (base64), errors as `DiscoverError`."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self.client, self.url = client, url

    def program_accounts(
        self, program: Pubkey, filters: list[Filter]
    ) -> list[tuple[Pubkey, bytes]]:
        config = RpcProgramAccountsConfig(
            RpcAccountInfoConfig(encoding=UiAccountEncoding.Base64), filters=filters
        )
        text = self._post(GetProgramAccounts(program, config, id=1).to_json(), "getProgramAccounts")
        answer = self._parse(GetProgramAccountsResp, text, "getProgramAccounts")
        return [(keyed.pubkey, bytes(keyed.account.data)) for keyed in answer.value]

    def accounts(self, keys: list[Pubkey]) -> list[tuple[Pubkey, bytes | None]]:
        config = RpcAccountInfoConfig(encoding=UiAccountEncoding.Base64)
        text = self._post(GetMultipleAccounts(keys, config, id=2).to_json(), "getMultipleAccounts")
        answer = self._parse(GetMultipleAccountsResp, text, "getMultipleAccounts")
        values = [None if a is None else bytes(a.data) for a in answer.value]
        return list(zip(keys, values, strict=True))

    def _parse(self, cls: Any, text: str, method: str) -> Any:
        try:
            answer = cls.from_json(text)
        except Exception as exc:  # solders' SerdeJSONError derives from Exception only
            raise DiscoverError(f"{self.url} sent no {method} result we can read") from exc
        if not isinstance(answer, cls):
            message = (str(getattr(answer, "message", answer)).splitlines() or ["error"])[0]
            raise DiscoverError(f"{self.url} refused {method}: {message}")
        return answer

    def _post(self, body: str, method: str) -> str:
        headers = {"content-type": "application/json"}
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            why = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise DiscoverError(f"cannot reach {self.url}: {why}") from exc
        if response.status_code != 200:
            raise DiscoverError(f"{self.url} answered {method} with HTTP {response.status_code}")
        return response.text
