"""Which scope each API route needs: one table, read by the guard on every call and walked
by the test that tries every route with every scope and with no token. A route missing
from the table is refused to every token. (The OpenAPI document, FastAPI's own route and
not a view, is public: it describes the API, it opens nothing.)"""

from __future__ import annotations

Scope = str

RULES: dict[tuple[str, str], Scope] = {
    ("POST", "/alerts"): "alerts:write",
    ("POST", "/alerts/preview"): "alerts:write",
    ("GET", "/alerts"): "alerts:read",
    ("GET", "/alerts/{alert_id}"): "alerts:read",
    ("GET", "/alerts/{alert_id}/recipients"): "alerts:read",
    ("POST", "/alerts/{alert_id}/cancel"): "alerts:write",
    ("GET", "/members"): "members:read",
    ("POST", "/members"): "members:write",
    ("POST", "/members/import"): "members:write",
    ("GET", "/members/{phone}"): "members:read",
    ("PATCH", "/members/{phone}"): "members:write",
    ("DELETE", "/members/{phone}"): "members:write",
    ("POST", "/members/{phone}/approve"): "members:write",
    ("GET", "/inbound"): "inbound:read",
    ("GET", "/status"): "status:read",
}


def rule_for(method: str, path: str) -> Scope | None:
    return RULES.get(("GET" if method == "HEAD" else method, path))
