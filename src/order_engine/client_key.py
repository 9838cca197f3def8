"""Where the command-line clients (`submit`, `orders`, `order`, `cancel`, `quote`, `watch`,
`launch`, `chain`) find the engine and which API key they send.

The engine: `--url`, else `ORDER_ENGINE_URL`, else where this machine's settings say it
serves (`PUBLIC_BASE_URL`, else `http://HOST:PORT`). The key: `--api-key`, else
`ORDER_ENGINE_API_KEY`, else the admin key an embedded `serve` on this machine wrote to
`DATA_DIR/admin.key`. None: send none (an engine in open mode)."""

from __future__ import annotations

import argparse
import os

from order_engine.settings import Settings

ENV = "ORDER_ENGINE_API_KEY"
URL_ENV = "ORDER_ENGINE_URL"
OPTION_HELP = f"the API key to send (default: ${ENV}, else DATA_DIR/admin.key)"
URL_HELP = (
    f"the engine's base URL (default: ${URL_ENV}, else PUBLIC_BASE_URL, else http://HOST:PORT)"
)


def api_key(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit.strip()
    if os.environ.get(ENV):
        return os.environ[ENV].strip()
    path = Settings().data_dir / "admin.key"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def auth_headers(explicit: str | None = None) -> dict[str, str]:
    key = api_key(explicit)
    return {} if key is None else {"Authorization": f"Bearer {key}"}


def engine_url(explicit: str | None = None) -> str:
    """`explicit` (`--url`), else `ORDER_ENGINE_URL`, else the settings' public base URL."""
    url = explicit or os.environ.get(URL_ENV, "").strip()
    return url.rstrip("/") if url else Settings().resolved_public_base_url


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """`--url` and `--api-key`, as every client command takes them."""
    parser.add_argument("--url", default=None, help=URL_HELP)
    parser.add_argument("--api-key", default=None, help=OPTION_HELP)
