"""`order-engine launch`: ask a running engine to launch a token (its admin endpoint)."""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx

from order_engine.client_key import auth_headers


def launch(base_url: str, body: dict[str, Any], key: str | None = None) -> int:
    """POST the launch; print the launch (JSON) or the engine's error, exit 0 or 1."""
    url = base_url.rstrip("/") + "/api/admin/launch"
    try:
        response = httpx.post(url, json=body, timeout=10, headers=auth_headers(key))
    except httpx.HTTPError as exc:
        print(f"order-engine: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    if response.status_code == 201:
        print(json.dumps(response.json()))
        return 0
    try:
        error = response.json()["error"]
        message = f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    print(f"order-engine: launch refused ({response.status_code}) {message}", file=sys.stderr)
    return 1
