"""The hub's registry: the first database (SQLite, WAL, one writer, schema from
`wsctl.core.hub.schema` with migrations).  Storage, not network: `net` and `cli`
use it; it uses only `core`."""

from wsctl.registry.records import DeviceRecord, QueuedCommand
from wsctl.registry.registry import Registry
from wsctl.registry.renewals import RenewalRecord

__all__ = ["DeviceRecord", "QueuedCommand", "Registry", "RenewalRecord"]
