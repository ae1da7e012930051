"""Identities, credentials and the audit log, kept in the data dir.

The cloud reads them to authenticate callers; the CLI (``edgetwin user``, ``edgetwin token``)
and ``edgetwin up`` write them without a running server. Nothing here imports the cloud or the
edge.
"""

from edgetwin.security.identities import (
    AuditEntry,
    IdentityStore,
    TokenInfo,
    UserInfo,
    identities_path,
)

__all__ = ["AuditEntry", "IdentityStore", "TokenInfo", "UserInfo", "identities_path"]
