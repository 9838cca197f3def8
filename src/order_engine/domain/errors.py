"""The one error tree of the engine.

```
EngineError
├── RequestError                 bad input (API: 422, names `field`)
│   ├── UnknownTokenError
│   ├── SameTokenError
│   └── OrderTooLargeError       over the account's largest order (USD value)
├── UnauthenticatedError         no valid API key (401; one message whatever was wrong)
├── ForbiddenError               the key's scope or account does not allow the call (403)
├── NotFoundError                (404)
│   ├── OrderNotFoundError
│   ├── AccountNotFoundError
│   └── ApiKeyNotFoundError
├── ConflictError                (409)
│   ├── IllegalTransitionError   a lifecycle move the table forbids
│   ├── ConcurrentUpdateError    optimistic lock lost; reload and retry
│   ├── IdempotencyConflictError same key, other body
│   ├── NotCancellableError      order already submitted or final
│   ├── AlreadyLaunchedError     a token launch for a symbol that exists
│   ├── AccountExistsError       an account of that name exists
│   ├── LaunchesUnavailableError this engine trades a cluster's pools (POOLS_FILE): no launches
│   └── FundingUnavailableError  this chain cannot fund a wallet (simulated venues, a cluster's)
├── CapacityError                queue full (429, Retry-After)
│   ├── TooManyOpenOrdersError   the account has its most open orders
│   └── AccountRateLimitedError  the account sent its most orders this minute
├── DependencyUnavailableError   store/queue/bus down (503)
├── WalletVaultError             no master key, or a sealed wallet it does not open (setup)
└── ExecutionError               a swap attempt went wrong
    ├── TransientExecutionError  retried with a fresh quote (by type, never by text)
    │   ├── VenueUnavailableError
    │   │   ├── ChainUnavailableError  the chain (RPC or in-process) did not answer
    │   │   └── TransactionExpiredError its blockhash expired before it landed
    │   ├── NoQuotesError
    │   ├── SlippageExceededError
    │   └── QuoteExpiredError    the quote aged out before it was sent
    └── PermanentExecutionError  not retried
        ├── NoRouteError
        ├── InsufficientFundsError  the wallet cannot pay the order (checked before sending)
        ├── PriceImpactTooHighError the route would move the price more than the order allows
        ├── ChainChangedError   a transaction was sent to a chain that is no longer there
        ├── WalletUnavailableError the order's account or its wallet cannot be opened
        └── TransactionRejectedError the chain refused a transaction for good
```
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "engine_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class RequestError(EngineError):
    code = "invalid_request"


class UnknownTokenError(RequestError):
    code = "unknown_token"


class SameTokenError(RequestError):
    code = "same_token"


class OrderTooLargeError(RequestError):
    """The order's value (USD) is over its account's `max_order_size` (names `amountIn`)."""

    code = "order_too_large"


class UnauthenticatedError(EngineError):
    code = "unauthenticated"


class ForbiddenError(EngineError):
    code = "forbidden"


class NotFoundError(EngineError):
    code = "not_found"


class OrderNotFoundError(NotFoundError):
    code = "order_not_found"


class AccountNotFoundError(NotFoundError):
    code = "account_not_found"


class ApiKeyNotFoundError(NotFoundError):
    code = "api_key_not_found"


class ConflictError(EngineError):
    code = "conflict"


class IllegalTransitionError(ConflictError):
    code = "illegal_transition"


class ConcurrentUpdateError(ConflictError):
    code = "concurrent_update"


class IdempotencyConflictError(ConflictError):
    code = "idempotency_conflict"


class NotCancellableError(ConflictError):
    code = "not_cancellable"


class AlreadyLaunchedError(ConflictError):
    code = "already_launched"


class LaunchesUnavailableError(ConflictError):
    code = "launches_unavailable"


class AccountExistsError(ConflictError):
    code = "account_exists"


class FundingUnavailableError(ConflictError):
    code = "funding_unavailable"


class CapacityError(EngineError):
    code = "queue_full"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TooManyOpenOrdersError(CapacityError):
    """The account has `max_open_orders` orders not final yet (waiting ones included)."""

    code = "too_many_open_orders"


class AccountRateLimitedError(CapacityError):
    """The account submitted `orders_per_minute` orders in the last 60 s."""

    code = "account_rate_limited"


class DependencyUnavailableError(EngineError):
    code = "dependency_unavailable"


class WalletVaultError(EngineError):
    """Wallets cannot be created or opened: no master key is configured, or a sealed
    wallet does not open with the configured one (another key, or altered bytes)."""

    code = "wallet_vault"


class ExecutionError(EngineError):
    code = "execution_error"


class TransientExecutionError(ExecutionError):
    code = "transient_error"


class VenueUnavailableError(TransientExecutionError):
    code = "venue_unavailable"


class NoQuotesError(TransientExecutionError):
    code = "no_quotes"


class SlippageExceededError(TransientExecutionError):
    code = "slippage_exceeded"


class ChainUnavailableError(VenueUnavailableError):
    code = "chain_unavailable"


class TransactionExpiredError(VenueUnavailableError):
    code = "transaction_expired"


class QuoteExpiredError(TransientExecutionError):
    code = "quote_expired"


class PermanentExecutionError(ExecutionError):
    code = "permanent_error"


class NoRouteError(PermanentExecutionError):
    code = "no_route"


class InsufficientFundsError(PermanentExecutionError):
    code = "insufficient_funds"


class PriceImpactTooHighError(PermanentExecutionError):
    code = "price_impact_too_high"


class TransactionRejectedError(PermanentExecutionError):
    code = "transaction_rejected"


class ChainChangedError(PermanentExecutionError):
    code = "chain_changed"


class WalletUnavailableError(PermanentExecutionError):
    code = "wallet_unavailable"
