"""The API key the command-line clients (`watch`, `launch`, `chain`, `accounts fund`) send:
`--api-key`, else `ORDER_ENGINE_API_KEY`, else the admin key an embedded `serve` on this
machine wrote to `DATA_DIR/admin.key`. None: send none (an engine in open mode)."""

from __future__ import annotations

import os

from order_engine.settings import Settings

ENV = "ORDER_ENGINE_API_KEY"
OPTION_HELP = f"the API key to send (default: ${ENV}, else DATA_DIR/admin.key)"


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
