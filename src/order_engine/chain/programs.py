"""Where the program binaries come from, and a LiteSVM with them loaded at their ids.

Looked for, in order: `PROGRAMS_DIR`, the data directory, then `../shared/chain` beside
the project when it exists. `order-engine programs fetch --rpc URL` writes them into the
data directory from any cluster (the programdata account's bytes after its header).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey

RAYDIUM_CPMM_ID = Pubkey.from_string("CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C")
DLMM_ID = Pubkey.from_string("LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo")
PROGRAM_FILES: dict[str, Pubkey] = {
    "raydium_cp_swap.so": RAYDIUM_CPMM_ID,
    "lb_clmm.so": DLMM_ID,
}
PROGRAMDATA_HEADER = 45  # slot u64 + Option<Pubkey> authority, before the ELF bytes
ELF64_HEADER = 64
FETCH_HINT = "run `order-engine programs fetch --rpc URL` or set PROGRAMS_DIR"


class ProgramsNotFoundError(Exception):
    """No directory holds both program binaries."""


@dataclass(frozen=True, slots=True)
class ProgramBinaries:
    source: Path
    binaries: dict[Pubkey, bytes]

    @property
    def digest(self) -> str:
        """One hash of every binary (part of the chain's genesis hash)."""
        h = hashlib.sha256()
        for program_id in sorted(self.binaries, key=bytes):
            h.update(bytes(program_id))
            h.update(hashlib.sha256(self.binaries[program_id]).digest())
        return h.hexdigest()

    def load_into(self, svm: LiteSVM) -> None:
        for program_id, elf in self.binaries.items():
            svm.add_program(program_id, elf)


def default_locations(programs_dir: Path | None, data_dir: Path) -> list[Path]:
    shared = Path(__file__).resolve().parents[3].parent / "shared" / "chain"
    found = [programs_dir] if programs_dir is not None else []
    return [*found, data_dir / "programs", data_dir, shared, Path.cwd().parent / "shared" / "chain"]


def find_programs(locations: Iterable[Path]) -> ProgramBinaries:
    """The first location holding every binary; `ProgramsNotFoundError` naming where it
    looked otherwise."""
    looked: list[str] = []
    for directory in locations:
        paths = {directory / name: pid for name, pid in PROGRAM_FILES.items()}
        if all(p.is_file() for p in paths):
            return ProgramBinaries(directory, {pid: p.read_bytes() for p, pid in paths.items()})
        looked.append(str(directory))
    names = " and ".join(PROGRAM_FILES)
    raise ProgramsNotFoundError(
        f"the program binaries ({names}) are not in {', '.join(looked)}: {FETCH_HINT}"
    )


def elf_from_programdata(data: bytes) -> bytes:
    """A program's ELF from its programdata account's bytes: after the header, up to the
    end of the ELF's section headers (the account is zero-padded beyond the program, so
    the same program always gives the same bytes, and the same genesis hash)."""
    elf = data[PROGRAMDATA_HEADER:]
    if len(data) <= PROGRAMDATA_HEADER or elf[:4] != b"\x7fELF" or len(elf) < ELF64_HEADER:
        raise ValueError("not a programdata account holding an ELF program")
    (section_headers,) = struct.unpack_from("<Q", elf, 0x28)
    entry_size, entries = struct.unpack_from("<HH", elf, 0x3A)
    end = section_headers + entry_size * entries
    return elf[:end] if 0 < end <= len(elf) else elf
