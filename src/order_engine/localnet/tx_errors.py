"""Transaction errors as Solana's RPC shows them.

The chain keeps an error as solders' text (`TransactionErrorInstructionError((2,
Tagged(InstructionErrorCustom(6005))))`, `TransactionErrorFieldless.AccountNotFound`);
this reads it back into solders' `TransactionErrorType` (which serializes as Solana's JSON,
`{"InstructionError":[2,{"Custom":6005}]}`) and prints it as Solana's `Display` does, for
a preflight failure's message."""

from __future__ import annotations

import re
from collections.abc import Callable

from solders.transaction_status import (
    InstructionErrorCustom,
    InstructionErrorFieldless,
    InstructionErrorType,
    TransactionErrorDuplicateInstruction,
    TransactionErrorFieldless,
    TransactionErrorInstructionError,
    TransactionErrorInsufficientFundsForRent,
    TransactionErrorProgramExecutionTemporarilyRestricted,
    TransactionErrorType,
)

_TX = "TransactionError"
_INSTRUCTION = rf"^{_TX}InstructionError\(\((\d+), "


def _fieldless(name: str) -> TransactionErrorType | None:
    return getattr(TransactionErrorFieldless, name, None)


def _instruction(index: str, name: str) -> TransactionErrorType | None:
    found: InstructionErrorType | None = getattr(InstructionErrorFieldless, name, None)
    return None if found is None else TransactionErrorInstructionError(int(index), found)


def _custom(index: str, code: str) -> TransactionErrorType:
    return TransactionErrorInstructionError(int(index), InstructionErrorCustom(int(code)))


_PARSERS: list[tuple[re.Pattern[str], Callable[..., TransactionErrorType | None]]] = [
    (re.compile(rf"^{_TX}Fieldless\.(\w+)$"), _fieldless),
    (re.compile(_INSTRUCTION + r"Tagged\(InstructionErrorCustom\((\d+)\)\)\)\)$"), _custom),
    (re.compile(_INSTRUCTION + r"Fieldless\((\w+)\)\)\)$"), _instruction),
    (
        re.compile(rf"^{_TX}DuplicateInstruction\((\d+)\)$"),
        lambda i: TransactionErrorDuplicateInstruction(int(i)),
    ),
    (
        re.compile(rf"^{_TX}InsufficientFundsForRent \{{ account_index: (\d+) \}}$"),
        lambda i: TransactionErrorInsufficientFundsForRent(int(i)),
    ),
    (
        re.compile(rf"^{_TX}ProgramExecutionTemporarilyRestricted \{{ account_index: (\d+) \}}$"),
        lambda i: TransactionErrorProgramExecutionTemporarilyRestricted(int(i)),
    ),
]
# Solana's Display of the errors a client meets here (others: their name in words)
_MESSAGES = {
    "AccountInUse": "Account in use",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "SignatureFailure": "Transaction did not pass signature verification",
    "InsufficientFunds": "insufficient funds for instruction",
    "GenericError": "generic instruction error",
    "InvalidAccountData": "invalid account data for instruction",
    "ComputationalBudgetExceeded": "Computational budget exceeded",
    "ProgramFailedToComplete": "Program failed to complete",
    "MissingRequiredSignature": "missing required signature for instruction",
}


def parse_error(text: str) -> TransactionErrorType:
    """solders' text of a transaction error, as the error (an unknown text: a generic
    instruction error of the first instruction)."""
    for pattern, build in _PARSERS:
        found = pattern.match(text)
        if found is not None and (err := build(*found.groups())) is not None:
            return err
    return TransactionErrorInstructionError(0, InstructionErrorFieldless.GenericError)


def _words(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def display(err: TransactionErrorType) -> str:
    """Solana's `Display` of a transaction error (`Error processing Instruction 2: custom
    program error: 0x1775`)."""
    if isinstance(err, TransactionErrorInstructionError):
        inner = err.err
        if isinstance(inner, InstructionErrorCustom):
            what = f"custom program error: {inner.code:#x}"
        else:
            name = str(inner).rsplit(".", 1)[-1]
            what = _MESSAGES.get(name, _words(name))
        return f"Error processing Instruction {err.index}: {what}"
    if isinstance(err, TransactionErrorInsufficientFundsForRent):
        return (
            f"Transaction results in an account ({err.account_index}) with insufficient "
            "funds for rent"
        )
    if isinstance(err, TransactionErrorDuplicateInstruction):
        return f"Transaction contains a duplicate instruction ({err.index}) that is not allowed"
    name = str(err).rsplit(".", 1)[-1]
    return _MESSAGES.get(name, _words(name))
