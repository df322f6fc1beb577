"""`Registry`: the hub's registry, one object over one file (docs/hub.md, "The registry")."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from wsctl.core.hub.schema import MIGRATIONS
from wsctl.registry.audit import AuditLog
from wsctl.registry.db import Database
from wsctl.registry.id_tags import IdTags
from wsctl.registry.presence import Presence
from wsctl.registry.queue import CommandQueue
from wsctl.registry.renewals import Renewals
from wsctl.registry.shared import SharedRegistry
from wsctl.registry.standing import StandingCache
from wsctl.registry.transactions import Transactions


class Registry(Presence, Transactions, IdTags, CommandQueue, Renewals, SharedRegistry, AuditLog):
    """Devices, presence, boot reports, transactions, id tags, queued commands, certificate
    renewals, what the federation's hubs share, and audit, in SQLite.

    Usable from several threads of one process (calls are serialised) and by
    several processes at once (WAL; each write is one short transaction).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._standings = StandingCache()

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, create: bool = True, migrations: Sequence[str] = MIGRATIONS
    ) -> Registry:
        """Open the registry at ``path``, creating it (0600) unless ``create=False``, and
        migrating an older one.  InvalidInput (one line) for a file that is not a
        registry, or is from a newer wsctl."""
        return cls(Database.open(path, create=create, migrations=migrations))

    @property
    def path(self) -> Path:
        return self._db.path

    @property
    def schema_version(self) -> int:
        return self._db.version

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
