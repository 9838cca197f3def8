"""Account reads: `getAccountInfo`, `getMultipleAccounts`, `getProgramAccounts` (base64,
`dataSlice`, `dataSize`/`memcmp` filters), `getBalance` and `getTokenAccountBalance`.

Every program is an upgradeable-loader program here as on Solana: its account (tag 2, the
programdata address) and its programdata account (tag 3, slot, no authority, the ELF) are
the chain's own accounts, so `order-engine programs fetch` works against this node."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from solders.account import Account
from solders.account_decoder import UiTokenAmount
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    GetAccountInfoResp,
    GetBalanceResp,
    GetMultipleAccountsResp,
    GetProgramAccountsResp,
    GetProgramAccountsWithContextResp,
    GetTokenAccountBalanceResp,
    RpcKeyedAccount,
)

from order_engine.chain.balances import TOKEN_ACCOUNT_SIZE, TOKEN_PROGRAM
from order_engine.chain.port import AccountInfo
from order_engine.localnet import params as p
from order_engine.localnet.cluster import context
from order_engine.localnet.errors import invalid_param, invalid_params
from order_engine.localnet.jsonrpc import Handler, result_of
from order_engine.localnet.node import Localnet

TOKEN_2022 = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
RENT_EXEMPT_EPOCH = 2**64 - 1  # what Solana reports as a rent-exempt account's rentEpoch
MAX_MULTIPLE_ACCOUNTS = 100
MAX_FILTERS = 4
MAX_BASE58_BYTES = 175  # Solana's limit on a memcmp filter's base58 text
MINT_DECIMALS_OFFSET = 44
Slice = tuple[int, int] | None


def _options(cfg: dict[str, Any]) -> Slice:
    """Checks the encoding (base64 only) and commitment; the `dataSlice`, if any."""
    encoding = cfg.get("encoding", "base64")
    if encoding != "base64":
        raise invalid_params(
            f"Invalid params: encoding {encoding!r} is not served by this node; use base64"
        )
    p.commitment(cfg)
    window = cfg.get("dataSlice")
    if window is None:
        return None
    if not isinstance(window, dict):
        raise invalid_params("Invalid params: dataSlice must be {offset, length}")
    return p.unsigned(window.get("offset"), "offset"), p.unsigned(window.get("length"), "length")


def _account(info: AccountInfo, window: Slice) -> Account:
    data = info.data if window is None else info.data[window[0] : window[0] + window[1]]
    return Account(info.lamports, data, info.owner, info.executable, RENT_EXEMPT_EPOCH)


def _sized(value: dict[str, Any] | None, info: AccountInfo | None) -> dict[str, Any] | None:
    """`space` (the whole account's size), which solders' `Account` leaves null."""
    if value is not None and info is not None:
        value["space"] = len(info.data)
    return value


async def get_account_info(node: Localnet, params: list[Any]) -> Any:
    (key,) = p.positional(params, 1, "getAccountInfo")
    cfg = p.config(params, 1)
    address, window = p.pubkey(key), _options(cfg)
    (info,) = await node.chain.accounts([address])
    p.check_context(cfg, node.chain.current_slot)
    account = None if info is None else _account(info, window)
    result = result_of(GetAccountInfoResp(account, context(node)))
    _sized(result["value"], info)
    return result


async def get_multiple_accounts(node: Localnet, params: list[Any]) -> Any:
    (keys,) = p.positional(params, 1, "getMultipleAccounts")
    if not isinstance(keys, list):
        raise invalid_params("Invalid params: expected an array of addresses")
    if len(keys) > MAX_MULTIPLE_ACCOUNTS:
        raise invalid_params(f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
    cfg = p.config(params, 1)
    addresses, window = [p.pubkey(k) for k in keys], _options(cfg)
    infos = await node.chain.accounts(addresses)
    p.check_context(cfg, node.chain.current_slot)
    accounts = [None if i is None else _account(i, window) for i in infos]
    result = result_of(GetMultipleAccountsResp(accounts, context(node)))
    for value, info in zip(result["value"], infos, strict=True):
        _sized(value, info)
    return result


async def get_balance(node: Localnet, params: list[Any]) -> Any:
    (key,) = p.positional(params, 1, "getBalance")
    cfg = p.config(params, 1)
    address = p.pubkey(key)
    p.commitment(cfg)
    lamports = await node.chain.balance(address)
    p.check_context(cfg, node.chain.current_slot)
    return result_of(GetBalanceResp(lamports, context(node)))


def token_amount(amount: int, decimals: int) -> UiTokenAmount:
    """An amount in base units as Solana shows it (`uiAmount`, `uiAmountString`)."""
    ui = Decimal(amount).scaleb(-decimals)
    text = format(ui.normalize(), "f") if amount else "0"
    return UiTokenAmount(float(ui), decimals, str(amount), text)


def is_token_account(info: AccountInfo) -> bool:
    size = len(info.data)
    return (info.owner == TOKEN_PROGRAM and size == TOKEN_ACCOUNT_SIZE) or (
        info.owner == TOKEN_2022 and size >= TOKEN_ACCOUNT_SIZE
    )


def decimals_of(mint: AccountInfo | None) -> int | None:
    if mint is None or mint.owner not in {TOKEN_PROGRAM, TOKEN_2022} or len(mint.data) < 82:
        return None
    return mint.data[MINT_DECIMALS_OFFSET]


async def get_token_account_balance(node: Localnet, params: list[Any]) -> Any:
    (key,) = p.positional(params, 1, "getTokenAccountBalance")
    cfg = p.config(params, 1)
    address = p.pubkey(key)
    p.commitment(cfg)
    (info,) = await node.chain.accounts([address])
    if info is None:
        raise invalid_param("could not find account")
    if not is_token_account(info):
        raise invalid_param("not a Token account")
    mint = Pubkey.from_bytes(info.data[:32])
    decimals = decimals_of(node.chain.account(mint))
    if decimals is None:
        raise invalid_param("could not find mint")
    amount = int.from_bytes(info.data[64:72], "little")
    return result_of(GetTokenAccountBalanceResp(token_amount(amount, decimals), context(node)))


def _memcmp(spec: Any) -> Callable[[bytes], bool]:
    if not isinstance(spec, dict) or not isinstance(spec.get("bytes"), str):
        raise invalid_params("Invalid params: memcmp needs {offset, bytes}")
    offset, text = p.unsigned(spec.get("offset"), "offset"), spec["bytes"]
    encoding = spec.get("encoding", "base58")
    try:
        if encoding == "base58":
            if len(text) > MAX_BASE58_BYTES:
                raise invalid_param("base58 encoded bytes too large")
            wanted = p.b58decode(text)
        elif encoding == "base64":
            wanted = p.b64decode(text)
        else:
            raise invalid_params(f"Invalid params: unknown memcmp encoding {encoding!r}")
    except ValueError as exc:
        raise invalid_param(exc) from exc
    return lambda data: data[offset : offset + len(wanted)] == wanted


def _filters(cfg: dict[str, Any]) -> list[Callable[[bytes], bool]]:
    filters = cfg.get("filters") or []
    if not isinstance(filters, list):
        raise invalid_params("Invalid params: filters must be an array")
    if len(filters) > MAX_FILTERS:
        raise invalid_params(f"Too many filters provided; max {MAX_FILTERS}")
    out: list[Callable[[bytes], bool]] = []
    for spec in filters:
        if isinstance(spec, dict) and "dataSize" in spec:
            size = p.unsigned(spec["dataSize"], "dataSize")
            out.append(lambda data, size=size: len(data) == size)  # type: ignore[misc]
        elif isinstance(spec, dict) and "memcmp" in spec:
            out.append(_memcmp(spec["memcmp"]))
        else:
            raise invalid_params(f"Invalid params: unsupported filter {spec!r}")
    return out


async def get_program_accounts(node: Localnet, params: list[Any]) -> Any:
    (key,) = p.positional(params, 1, "getProgramAccounts")
    cfg = p.config(params, 1)
    owner, window, keep = p.pubkey(key), _options(cfg), _filters(cfg)
    found = [
        (k, info)
        for k, info in await node.chain.program_accounts(owner)
        if all(f(info.data) for f in keep)
    ]
    p.check_context(cfg, node.chain.current_slot)
    keyed = [RpcKeyedAccount(k, _account(info, window)) for k, info in found]
    if p.flag(cfg, "withContext"):
        result = result_of(GetProgramAccountsWithContextResp(keyed, context(node)))
        values = result["value"]
    else:
        result = values = result_of(GetProgramAccountsResp(keyed))
    for value, (_, info) in zip(values, found, strict=True):
        _sized(value["account"], info)
    return result


METHODS: dict[str, Handler] = {
    "getAccountInfo": get_account_info,
    "getMultipleAccounts": get_multiple_accounts,
    "getBalance": get_balance,
    "getTokenAccountBalance": get_token_account_balance,
    "getProgramAccounts": get_program_accounts,
}
