"""The composition root: the one place that reads settings and picks adapters.

`engine` holds the running `Engine`; `factories` picks adapters by settings; `wiring`
builds the engine and runs it (`serve`, `api`, `worker`, `migrate`).
"""

from order_engine.bootstrap.accounts import account_admin
from order_engine.bootstrap.engine import Engine
from order_engine.bootstrap.factories import ConfigurationError, check_urls
from order_engine.bootstrap.wiring import (
    api_app_from_env,
    build_app,
    build_engine,
    migrate_database,
    preflight,
    run_worker,
)

__all__ = [
    "ConfigurationError",
    "Engine",
    "account_admin",
    "api_app_from_env",
    "build_app",
    "build_engine",
    "check_urls",
    "migrate_database",
    "preflight",
    "run_worker",
]
