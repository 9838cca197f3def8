"""SPL building blocks the program modules share: well-known ids, account metas, Anchor
discriminators, SPL Token / ATA / System instructions and the Token account layouts.

Instruction encodings are the programs' own (SPL Token's one-byte tags, the ATA program's
`CreateIdempotent`), so the in-process chain runs exactly what a cluster would. Account
byte builders exist for the few accounts a local genesis writes directly (the native mint,
a wSOL token account); everything else is created through real instructions.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Final

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, TransferParams
from solders.system_program import create_account as _create_account
from solders.system_program import transfer as _transfer
from solders.token.associated import get_associated_token_address

SYSTEM_PROGRAM: Final = Pubkey.from_string("11111111111111111111111111111111")
TOKEN_PROGRAM: Final = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
ATA_PROGRAM: Final = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
RENT_SYSVAR: Final = Pubkey.from_string("SysvarRent111111111111111111111111111111111")
NATIVE_MINT: Final = Pubkey.from_string("So11111111111111111111111111111111111111112")

MINT_SIZE: Final = 82
TOKEN_ACCOUNT_SIZE: Final = 165

# SPL Token instruction tags
_MINT_TO: Final = 7
_CLOSE_ACCOUNT: Final = 9
_SYNC_NATIVE: Final = 17
_INITIALIZE_MINT2: Final = 20
_ATA_CREATE_IDEMPOTENT: Final = 1
_ACCOUNT_INITIALIZED: Final = 1

_OWNER_OFFSET: Final = 32
_AMOUNT_OFFSET: Final = 64


def writable(pubkey: Pubkey) -> AccountMeta:
    """A writable account that does not sign."""
    return AccountMeta(pubkey, is_signer=False, is_writable=True)


def readonly(pubkey: Pubkey) -> AccountMeta:
    """A read-only account that does not sign."""
    return AccountMeta(pubkey, is_signer=False, is_writable=False)


def signer(pubkey: Pubkey, *, is_writable: bool = False) -> AccountMeta:
    """A signing account, read-only unless `is_writable` (a fee payer, a funder)."""
    return AccountMeta(pubkey, is_signer=True, is_writable=is_writable)


def anchor_ix_discriminator(name: str) -> bytes:
    """The 8 bytes an Anchor instruction's data starts with: sha256("global:<name>")[:8]."""
    return hashlib.sha256(f"global:{name}".encode()).digest()[:8]


def anchor_account_discriminator(name: str) -> bytes:
    """The 8 bytes an Anchor account's data starts with: sha256("account:<Name>")[:8]."""
    return hashlib.sha256(f"account:{name}".encode()).digest()[:8]


def create_account(
    payer: Pubkey, new_account: Pubkey, lamports: int, space: int, owner: Pubkey
) -> Instruction:
    """System `CreateAccount`: `payer` funds `new_account` (both sign), owned by `owner`."""
    params = CreateAccountParams(
        from_pubkey=payer, to_pubkey=new_account, lamports=lamports, space=space, owner=owner
    )
    return _create_account(params)


def transfer_lamports(source: Pubkey, dest: Pubkey, lamports: int) -> Instruction:
    """System `Transfer` of lamports (`source` signs)."""
    return _transfer(TransferParams(from_pubkey=source, to_pubkey=dest, lamports=lamports))


def initialize_mint2(
    mint: Pubkey, decimals: int, authority: Pubkey, freeze_authority: Pubkey | None = None
) -> Instruction:
    """SPL Token `InitializeMint2` on an allocated 82-byte account owned by Token."""
    data = bytes([_INITIALIZE_MINT2, decimals]) + bytes(authority) + _coption_tag(freeze_authority)
    return Instruction(TOKEN_PROGRAM, data, [writable(mint)])


def create_ata_idempotent(payer: Pubkey, owner: Pubkey, mint: Pubkey) -> tuple[Pubkey, Instruction]:
    """ATA `CreateIdempotent`: the owner's associated token account and the instruction."""
    ata = get_associated_token_address(owner, mint)
    accounts = [
        signer(payer, is_writable=True),
        writable(ata),
        readonly(owner),
        readonly(mint),
        readonly(SYSTEM_PROGRAM),
        readonly(TOKEN_PROGRAM),
    ]
    return ata, Instruction(ATA_PROGRAM, bytes([_ATA_CREATE_IDEMPOTENT]), accounts)


def mint_to(mint: Pubkey, dest: Pubkey, authority: Pubkey, amount: int) -> Instruction:
    """SPL Token `MintTo` of `amount` base units (the mint authority signs)."""
    data = bytes([_MINT_TO]) + struct.pack("<Q", amount)
    return Instruction(TOKEN_PROGRAM, data, [writable(mint), writable(dest), signer(authority)])


def sync_native(account: Pubkey) -> Instruction:
    """SPL Token `SyncNative`: a wSOL account's amount catches up with its lamports."""
    return Instruction(TOKEN_PROGRAM, bytes([_SYNC_NATIVE]), [writable(account)])


def close_account(account: Pubkey, dest: Pubkey, owner: Pubkey) -> Instruction:
    """SPL Token `CloseAccount`: lamports go to `dest` (unwraps wSOL); the owner signs."""
    accounts = [writable(account), writable(dest), signer(owner)]
    return Instruction(TOKEN_PROGRAM, bytes([_CLOSE_ACCOUNT]), accounts)


def mint_account_bytes(authority: Pubkey | None, supply: int, decimals: int) -> bytes:
    """An initialized 82-byte SPL Mint (no freeze authority)."""
    data = (
        _coption_pubkey(authority)
        + struct.pack("<QB?", supply, decimals, True)
        + _coption_pubkey(None)
    )
    assert len(data) == MINT_SIZE
    return data


def native_token_account_bytes(owner: Pubkey, rent_reserve: int, amount: int = 0) -> bytes:
    """An initialized 165-byte wSOL token account: mint So111…2, is_native = Some(rent)."""
    data = (
        bytes(NATIVE_MINT)
        + bytes(owner)
        + struct.pack("<Q", amount)
        + _coption_pubkey(None)  # delegate
        + bytes([_ACCOUNT_INITIALIZED])
        + struct.pack("<IQ", 1, rent_reserve)  # is_native: Some(rent-exempt reserve)
        + struct.pack("<Q", 0)  # delegated_amount
        + _coption_pubkey(None)  # close_authority
    )
    assert len(data) == TOKEN_ACCOUNT_SIZE
    return data


def token_amount(data: bytes) -> int:
    """The amount held by a token account (its bytes, 165 or more)."""
    return int(struct.unpack_from("<Q", _token_account(data), _AMOUNT_OFFSET)[0])


def token_owner(data: bytes) -> Pubkey:
    """The owner of a token account."""
    return Pubkey.from_bytes(_token_account(data)[_OWNER_OFFSET:_AMOUNT_OFFSET])


def token_mint(data: bytes) -> Pubkey:
    """The mint of a token account."""
    return Pubkey.from_bytes(_token_account(data)[:_OWNER_OFFSET])


def mint_authority(data: bytes) -> Pubkey | None:
    """Who may mint more of a mint (its bytes, 82 or more); None: nobody (a fixed supply)."""
    if len(data) < MINT_SIZE:
        raise ValueError(f"a mint has {MINT_SIZE}+ bytes, got {len(data)}")
    (tag,) = struct.unpack_from("<I", data, 0)
    return Pubkey.from_bytes(data[4:36]) if tag == 1 else None


def _token_account(data: bytes) -> bytes:
    if len(data) < TOKEN_ACCOUNT_SIZE:
        raise ValueError(f"a token account has {TOKEN_ACCOUNT_SIZE}+ bytes, got {len(data)}")
    return data


def _coption_pubkey(key: Pubkey | None) -> bytes:
    """A C-style `COption<Pubkey>`: u32 tag then 32 bytes (zero when None)."""
    if key is None:
        return struct.pack("<I", 0) + bytes(32)
    return struct.pack("<I", 1) + bytes(key)


def _coption_tag(key: Pubkey | None) -> bytes:
    """A Borsh-style `COption<Pubkey>` as instruction data uses: u8 tag, key only if Some."""
    return b"\x00" if key is None else b"\x01" + bytes(key)
