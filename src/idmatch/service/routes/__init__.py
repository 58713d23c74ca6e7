"""The service's HTTP routes, one module per resource; :data:`ROUTERS` is what the app mounts, in order."""
from __future__ import annotations

from . import audit, documents, erasures, keys, policy, review, sessions, stateless, subjects

ROUTERS = [m.router for m in (sessions, documents, review, stateless, keys, policy, erasures, audit, subjects)]
