"""The cluster's own methods: health, version, genesis, slots, blockhash, epoch, rent and
the faucet (`requestAirdrop`)."""

from __future__ import annotations

from typing import Any

from solders.epoch_info import EpochInfo
from solders.hash import Hash
from solders.rpc.responses import (
    GetBlockHeightResp,
    GetEpochInfoResp,
    GetGenesisHashResp,
    GetHealthResp,
    GetLatestBlockhashResp,
    GetMinimumBalanceForRentExemptionResp,
    GetSlotResp,
    GetVersionResp,
    RequestAirdropResp,
    RpcBlockhash,
    RpcResponseContext,
    RpcVersionInfo,
)
from solders.signature import Signature

from order_engine.localnet import params as p
from order_engine.localnet.errors import invalid_params
from order_engine.localnet.jsonrpc import Handler, result_of
from order_engine.localnet.node import Localnet

SOLANA_CORE = "2.2.0"  # the Agave line LiteSVM's programs runtime comes from
SLOTS_PER_EPOCH = 432_000
MAX_ACCOUNT_SIZE = 10 * 1024 * 1024
MAX_AIRDROP = 10**9 * 10**9  # a billion SOL: far from overflowing a balance


def context(node: Localnet) -> RpcResponseContext:
    """The slot a contextful answer was read at (after the read moved the clock)."""
    return RpcResponseContext(node.chain.current_slot)


async def get_health(node: Localnet, _params: list[Any]) -> Any:
    await node.chain.slot()  # an injected read fault: the node answers unhealthy
    return result_of(GetHealthResp("ok"))


async def get_version(_node: Localnet, _params: list[Any]) -> Any:
    return result_of(GetVersionResp(RpcVersionInfo(SOLANA_CORE)))


async def get_genesis_hash(node: Localnet, _params: list[Any]) -> Any:
    return result_of(GetGenesisHashResp(Hash.from_string(node.genesis_hash)))


async def get_slot(node: Localnet, params: list[Any]) -> Any:
    cfg = p.config(params, 0)
    p.commitment(cfg)
    slot = await node.chain.slot()
    p.check_context(cfg, slot)
    return result_of(GetSlotResp(slot))


async def get_block_height(node: Localnet, params: list[Any]) -> Any:
    cfg = p.config(params, 0)
    p.commitment(cfg)
    height = await node.chain.block_height()
    p.check_context(cfg, node.chain.current_slot)
    return result_of(GetBlockHeightResp(height))


async def get_latest_blockhash(node: Localnet, params: list[Any]) -> Any:
    cfg = p.config(params, 0)
    p.commitment(cfg)
    latest = await node.chain.latest_blockhash()
    p.check_context(cfg, node.chain.current_slot)
    value = RpcBlockhash(latest.blockhash, latest.last_valid_block_height)
    return result_of(GetLatestBlockhashResp(value, context(node)))


async def get_epoch_info(node: Localnet, params: list[Any]) -> Any:
    cfg = p.config(params, 0)
    p.commitment(cfg)
    slot = await node.chain.slot()
    p.check_context(cfg, slot)
    epoch, index = divmod(slot, SLOTS_PER_EPOCH)
    return result_of(GetEpochInfoResp(EpochInfo(epoch, index, SLOTS_PER_EPOCH, slot, slot, None)))


async def get_minimum_balance(node: Localnet, params: list[Any]) -> Any:
    (size,) = p.positional(params, 1, "getMinimumBalanceForRentExemption")
    if p.unsigned(size, "data length") > MAX_ACCOUNT_SIZE:
        raise invalid_params(f"Invalid params: data length exceeds {MAX_ACCOUNT_SIZE} bytes")
    return result_of(GetMinimumBalanceForRentExemptionResp(node.chain.rent(size)))


async def request_airdrop(node: Localnet, params: list[Any]) -> Any:
    key, lamports = p.positional(params, 2, "requestAirdrop")
    to, amount = p.pubkey(key), p.unsigned(lamports, "lamports")
    if not 0 < amount <= MAX_AIRDROP:
        raise invalid_params(f"Invalid params: an airdrop is 1 to {MAX_AIRDROP} lamports")
    p.commitment(p.config(params, 2))
    await node.chain.slot()  # the node may be unhealthy (injected faults)
    signature = node.airdrop(to, amount)
    return result_of(RequestAirdropResp(Signature.from_string(signature)))


METHODS: dict[str, Handler] = {
    "getHealth": get_health,
    "getVersion": get_version,
    "getGenesisHash": get_genesis_hash,
    "getSlot": get_slot,
    "getBlockHeight": get_block_height,
    "getLatestBlockhash": get_latest_blockhash,
    "getEpochInfo": get_epoch_info,
    "getMinimumBalanceForRentExemption": get_minimum_balance,
    "requestAirdrop": request_airdrop,
}
