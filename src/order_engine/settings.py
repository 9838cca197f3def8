"""Settings from environment variables and an optional `.env` file (pydantic-settings).

Every setting is documented in the README and in `.env.example`."""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from order_engine.domain.accounts import AccountLimits
from order_engine.domain.launches import parse_schedule

SUPPORTED_DATABASES = ("sqlite+aiosqlite", "postgresql+asyncpg")
WALLET_MASTER_KEY_BYTES = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=1, le=65535)
    public_base_url: str | None = None
    # browsers on these origins (comma-separated, or *) may call the API: CORS on every path
    cors_origins: str = ""
    # keys: every call needs an API key (`serve` makes an admin key at first start);
    # open: a call without a key acts for the local admin account (loopback HOST only)
    auth_mode: Literal["keys", "open"] = "keys"
    stream_token_ttl_s: int = Field(default=300, ge=10, le=86_400)  # wsUrl's token lives
    # every this often, one store read of the orders written since the last one checks the
    # open order streams for events their live side missed (a lost publish): such a stream
    # catches up within about twice this
    stream_check_interval_s: float = Field(default=2.0, gt=0, le=300)
    # every open WebSocket is pinged this often; one whose pong is later than the timeout
    # is closed (1011). The pings are most of what idle streams cost (500/s at 10k open)
    ws_ping_interval_s: float = Field(default=20.0, gt=0, le=3600)
    ws_ping_timeout_s: float = Field(default=20.0, gt=0, le=3600)
    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None
    sim_chain_url: str | None = None  # Redis of the simulated chain; default REDIS_URL
    redis_prefix: str = Field(default="oe", min_length=1, max_length=64)
    # the feed of every order's events (the dashboard's live stream) keeps about this many
    # of the newest events, to resume from (Redis: one capped stream; embedded: in memory)
    event_feed_length: int = Field(default=10_000, ge=100, le=1_000_000)
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"  # json: one JSON object per line
    # each worker process refreshes its heartbeat key (PREFIX:workers:ID) this often; the
    # key lives 3 times as long, so a killed worker stops counting within that
    worker_heartbeat_s: float = Field(default=5.0, gt=0, le=300)
    # `order-engine worker` serves its own Prometheus metrics on this port (unset: off)
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    worker_concurrency: int = Field(default=10, ge=1, le=1000)
    rate_limit_max: int = Field(default=100, ge=0)
    rate_limit_window_s: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=20)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    queue_max_depth: int = Field(default=10_000, ge=1)
    recovery_interval_s: float = Field(default=30.0, gt=0)
    shutdown_timeout_s: float = Field(default=10.0, ge=0)
    job_lock_s: float = Field(default=30.0, ge=1)  # a dead worker's job moves on after this
    # an attempt failing because the database or the chain's node did not answer is run
    # again after a backoff, without counting, for up to this long (then it counts)
    outage_max_wait_s: float = Field(default=300.0, ge=0)

    latency_scale: float = Field(default=1.0, ge=0)
    rng_seed: int = 42
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    quote_timeout_s: float = Field(default=1.0, gt=0)
    sim_launches: str = ""  # scheduled launches: SYMBOL:VENUE:PRICE[:QUOTE]@SECONDS,…
    limit_check_interval_s: float = Field(default=2.0, gt=0)  # re-quote waiting limit orders
    limit_max_time_in_force_s: int = Field(default=7 * 24 * 3600, ge=1)
    split_orders: bool = True  # split an order across venues when that returns more
    split_min_gain_bps: Decimal = Field(default=Decimal("1"), ge=0, le=10_000)
    split_min_leg_fraction: Decimal = Field(default=Decimal("0.01"), ge=0, lt=Decimal("0.5"))
    # route through SOL or USDC when no pool trades a pair, or when that returns this much more
    two_hop_routing: bool = True
    two_hop_min_gain_bps: Decimal = Field(default=Decimal("10"), ge=0, le=10_000)
    max_body_bytes: int = Field(default=16_384, ge=256)
    # the price-impact guard: no route moving the price more than this (basis points) is
    # sent; an order's maxPriceImpactBps may set its own, up to the cap
    max_price_impact_bps: int = Field(default=1_000, ge=1, le=10_000)
    max_price_impact_cap_bps: int = Field(default=5_000, ge=1, le=10_000)
    # limits per account (an account's own overrides, `order-engine accounts limits`, come
    # first; 0 = no limit): orders not final, orders per minute, an order's value in USD
    account_max_open_orders: int = Field(default=1_000, ge=0)
    account_orders_per_minute: int = Field(default=6_000, ge=0)
    account_max_order_usd: Decimal = Field(default=Decimal(1_000_000), ge=0)

    # venues: `chain` (the real programs on the local chain) or `sim` (the product
    # description's mock). Unset: `chain` for `serve` when the program binaries are found.
    venues: Literal["chain", "sim"] | None = None
    # a Solana cluster over JSON-RPC (`order-engine localnet`, devnet, mainnet): the chain
    # venues of every process (`api`, `worker`, `serve`) read and send through it
    solana_rpc_url: str | None = None
    rpc_timeout_s: float = Field(default=5.0, gt=0)
    rpc_skip_preflight: bool = True  # the engine simulates every new shape itself
    programs_dir: Path | None = None  # where raydium_cp_swap.so and lb_clmm.so are
    wallet_keypair: Path | None = None  # the engine's wallet; default DATA_DIR/wallet.json
    # seals every account's wallet at rest (AES-256-GCM): 32 random bytes, base64
    wallet_master_key: SecretStr | None = None
    priority_fee_micro_lamports: int = Field(default=1_000, ge=0, le=10_000_000)
    # the tokens and pools to trade on a cluster the engine did not create (devnet, mainnet):
    # a TOML file (README "Devnet and mainnet"); unset, the local chain's listing
    pools_file: Path | None = None
    wallet_funding_sol: int = Field(default=100_000, ge=0)  # the local genesis funds the wallet
    wallet_funding_usd: Decimal = Field(default=Decimal(10_000_000), ge=0)  # per other token
    chain_drop_rate: float = Field(default=0.0, ge=0, le=1)  # fault injection (tests)
    chain_landing_delay_slots: int = Field(default=0, ge=0, le=1000)
    chain_read_error_rate: float = Field(default=0.0, ge=0, le=1)
    chain_send_error_rate: float = Field(default=0.0, ge=0, le=1)
    # the background market on the local chain: every MARKET_INTERVAL_S seconds (0 = off)
    # the reference prices take a random step, noise trades hit random pools and an
    # arbitrageur pulls every pool back to the reference
    market_interval_s: float = Field(default=2.0, ge=0)
    market_volatility_bps: Decimal = Field(default=Decimal(5), ge=0, le=1000)
    market_flow_usd: Decimal = Field(default=Decimal(2000), ge=0)
    market_noise_trades: int = Field(default=2, ge=0, le=100)
    market_arbitrage: bool = True

    @field_validator("sim_launches")
    @classmethod
    def _launches(cls, value: str) -> str:
        parse_schedule(value)  # a ValueError names the bad item
        return value

    @property
    def wallet_master_key_bytes(self) -> bytes | None:
        """The wallet master key, decoded; None when it is not set."""
        key = self.wallet_master_key
        text = "" if key is None else key.get_secret_value()
        return decode_master_key(text) if text.strip() else None

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.lower()
        if value not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError("must be one of critical, error, warning, info, debug")
        return value

    def problem_for(self, command: str) -> str | None:
        """Why these settings cannot run `command` (serve, api, worker, migrate), or None."""
        return (
            self._url_problem()
            or self._key_problem()
            or self._auth_problem(command)
            or self._command_problem(command)
        )

    def _auth_problem(self, command: str) -> str | None:
        if self.auth_mode == "open" and command in {"serve", "api"} and not self.loopback:
            return (
                f"AUTH_MODE=open serves without API keys, so only on a loopback HOST "
                f"(127.0.0.1, ::1, localhost), not {self.host}: use AUTH_MODE=keys"
            )
        return None

    @property
    def loopback(self) -> bool:
        return self.host in {"127.0.0.1", "::1", "localhost"} or self.host.startswith("127.")

    def _url_problem(self) -> str | None:
        scheme = self.resolved_database_url.split("://", 1)[0]
        if scheme not in SUPPORTED_DATABASES:
            return (
                f"DATABASE_URL scheme {scheme!r} is not supported: use "
                "sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db"
            )
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://")):
            return "REDIS_URL must look like redis://host:6379/0"
        if self.sim_chain_url and not self.sim_chain_url.startswith(("redis://", "rediss://")):
            return "SIM_CHAIN_URL must look like redis://host:6379/1"
        if self.pools_file and (not self.solana_rpc_url or self.venues == "sim"):
            return "POOLS_FILE names a cluster's pools: set SOLANA_RPC_URL (and not VENUES=sim)"
        return None

    def _key_problem(self) -> str | None:
        """A malformed WALLET_MASTER_KEY, said without echoing it (pydantic's own errors
        would show the value, so the field is checked here rather than by a validator)."""
        try:
            self.wallet_master_key_bytes  # noqa: B018
        except ValueError as exc:
            return f"WALLET_MASTER_KEY {exc}"
        return None

    def _command_problem(self, command: str) -> str | None:
        if command not in {"api", "worker"}:
            return None
        if not self.redis_url:
            return f"`order-engine {command}` shares work through Redis: set REDIS_URL"
        if self.resolved_database_url.startswith("sqlite+aiosqlite"):
            return (
                f"`order-engine {command}` processes share one database: set DATABASE_URL "
                "to PostgreSQL (SQLite is for the one-process `order-engine serve`)"
            )
        return None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            for plain in ("postgres://", "postgresql://"):  # the usual form: use asyncpg
                if url.startswith(plain):
                    return "postgresql+asyncpg://" + url[len(plain) :]
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'orders.db').as_posix()}"

    @property
    def account_limits(self) -> AccountLimits:
        """The per-account defaults (None where the setting is 0: no limit)."""
        return AccountLimits(
            self.account_max_open_orders or None,
            self.account_orders_per_minute or None,
            self.account_max_order_usd or None,
        )

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def resolved_public_base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = "localhost" if self.host in {"0.0.0.0", "::", ""} else self.host
        return f"http://{host}:{self.port}"


def decode_master_key(text: str) -> bytes:
    """The 32 bytes of a base64 (standard or URL-safe) wallet master key; `ValueError`
    (without the key in it) for anything else."""
    value = text.strip()
    try:
        key = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64 (e.g. `openssl rand -base64 32`)") from None
    if len(key) != WALLET_MASTER_KEY_BYTES:
        raise ValueError(f"must decode to {WALLET_MASTER_KEY_BYTES} bytes, not {len(key)}")
    return key
