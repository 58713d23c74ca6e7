"""The service's HTTP routes, one module per resource; :data:`ROUTERS` is what the app mounts, in order."""
from __future__ import annotations

from . import audit, erasures, keys, policy, review, sessions, stateless, subjects

ROUTERS = [m.router for m in (sessions, review, stateless, keys, policy, erasures, audit, subjects)]
