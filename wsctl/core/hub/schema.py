"""The hub registry's schema, as data: one SQL script per version.

``MIGRATIONS[i]`` takes a registry from version ``i`` to ``i + 1``; version 0 is
an empty file.  A shipped migration never changes (a registry in the field has
already run it): a new version appends a script.  `wsctl.registry.db` applies the
missing ones, each in one transaction together with the new ``user_version``, so a
migration that fails half-way leaves the file as it was.

The file says it is a wsctl registry by SQLite's ``application_id`` header field
(`APPLICATION_ID`); its ``user_version`` is the schema version.
"""

from __future__ import annotations

from collections.abc import Sequence

from wsctl.core.errors import InvalidInput

#: "wsHb" as a big-endian 32-bit integer, in the SQLite header of every registry
APPLICATION_ID = 0x77734862

_V1 = """
CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    profile TEXT NOT NULL,
    security_profile INTEGER NOT NULL CHECK (security_profile IN (1, 2, 3)),
    status TEXT NOT NULL CHECK (status IN ('approved', 'pending', 'blocked')),
    -- a self-describing scrypt string (wsctl.registry.secret_hash), never the secret
    secret_hash TEXT,
    created REAL NOT NULL,
    online INTEGER NOT NULL DEFAULT 0 CHECK (online IN (0, 1)),
    -- counts the device's connections: a late offline() of a replaced one is ignored
    connection INTEGER NOT NULL DEFAULT 0,
    connected_security_profile INTEGER,
    since REAL,
    last_seen REAL,
    remote TEXT,
    offline_reason TEXT,
    last_boot REAL,
    vendor TEXT,
    model TEXT,
    firmware TEXT,
    serial TEXT,
    cert_fingerprint TEXT,
    cert_serial TEXT,
    cert_not_after REAL
);
CREATE TABLE device_groups (
    device TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    PRIMARY KEY (device, name)
) WITHOUT ROWID;
CREATE INDEX device_groups_by_name ON device_groups (name);
-- AUTOINCREMENT: an id is never handed out twice, not even after the newest row is deleted
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    -- OCPP 2.0.1: the station names its transactions; 1.6 uses the id alone
    station_transaction_id TEXT,
    -- 2.0.1 transactions may start without an id token (plug in, then authorize)
    id_tag TEXT,
    connector_id INTEGER,
    meter_start INTEGER,
    started REAL NOT NULL,
    stopped REAL,
    meter_stop INTEGER,
    reason TEXT
);
CREATE INDEX transactions_open ON transactions (device) WHERE stopped IS NULL;
CREATE UNIQUE INDEX transactions_by_station_id ON transactions (device, station_transaction_id)
    WHERE station_transaction_id IS NOT NULL;
CREATE TABLE id_tags (
    id_tag TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('Accepted', 'Blocked', 'Expired')),
    expires REAL
);
CREATE TABLE queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    operator TEXT NOT NULL,
    role TEXT,
    command TEXT NOT NULL,
    params TEXT NOT NULL,
    created REAL NOT NULL,
    expires_at REAL NOT NULL,
    done REAL,
    outcome TEXT CHECK (outcome IN ('delivered', 'failed', 'expired')),
    result TEXT
);
CREATE INDEX queue_waiting ON queue (device, id) WHERE done IS NULL;
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    role TEXT,
    device TEXT,
    action TEXT NOT NULL,
    params TEXT,
    outcome TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX audit_by_device ON audit (device, id);
CREATE INDEX audit_by_actor ON audit (actor, id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

# OCPP certificate renewals through the hub (issue 12): what waits for a station's
# reconnection with its new certificate survives a hub restart
_V2 = """
CREATE TABLE renewals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN
        ('requested', 'csr-received', 'signed', 'accepted', 'seen', 'renewed', 'rejected', 'failed')),
    -- the operator whose trigger started it; NULL: the station sent its CSR on its own
    requested_by TEXT,
    started REAL NOT NULL,
    updated REAL NOT NULL,
    -- serials as hex text (up to 159 bits), like devices.cert_serial
    old_serial TEXT,
    old_fingerprint TEXT,
    new_serial TEXT,
    new_fingerprint TEXT,
    -- when the old certificate was revoked (and the CRL re-issued)
    old_revoked REAL,
    detail TEXT
);
CREATE INDEX renewals_by_device ON renewals (device, id);
CREATE INDEX renewals_open ON renewals (device)
    WHERE state IN ('requested', 'csr-received', 'signed', 'accepted', 'seen');
"""

# One registry for the site (issue 13, docs/federation.md, "The shared
# registry"): what admits a device (profile, security profile, status, secret
# hash, groups) and the id tags OCPP Authorize is answered from are shared with
# the federation's other hubs, last writer wins.  ``changed``/``changed_by``:
# when and by which hub a row last changed (NULL by: this registry's own change;
# a device's NULL changed: its ``created``; rows from before version 3: 0).  A
# local change is dated now, or just after the version it replaces when that is
# later (another hub's clock ahead of this one's must not make it lose).  A removal leaves a tombstone in
# ``removed``, so an older copy cannot bring it back.  The outbox holds, once
# per row, what changed here and is not yet published: triggers fill it, so
# every verb is covered.  (DELETE then INSERT, not INSERT OR REPLACE: an outer
# statement's conflict clause, such as an upsert's, overrides the one of a
# statement inside a trigger.  AUTOINCREMENT: a change made while the hub
# publishes the one before gets a new seq, so taking the published one out
# leaves it in.)
_V3 = """
ALTER TABLE devices ADD COLUMN changed REAL;
ALTER TABLE devices ADD COLUMN changed_by TEXT;
ALTER TABLE id_tags ADD COLUMN changed REAL;
ALTER TABLE id_tags ADD COLUMN changed_by TEXT;
-- rows from before: version 0, so any change made since on any hub wins over them
UPDATE devices SET changed = 0;
UPDATE id_tags SET changed = 0;
CREATE TABLE removed (
    kind TEXT NOT NULL CHECK (kind IN ('device', 'id-tag')),
    key TEXT NOT NULL,
    at REAL NOT NULL,
    by TEXT,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE registry_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    UNIQUE (kind, key)
);
INSERT INTO registry_outbox (kind, key) SELECT 'device', id FROM devices ORDER BY rowid;
INSERT INTO registry_outbox (kind, key) SELECT 'id-tag', id_tag FROM id_tags ORDER BY rowid;
CREATE TRIGGER devices_shared_insert AFTER INSERT ON devices
BEGIN
    UPDATE devices SET changed = max(coalesce(NEW.changed, NEW.created),
        (SELECT at FROM removed WHERE kind = 'device' AND key = NEW.id) + 0.001)
        WHERE id = NEW.id AND EXISTS (SELECT 1 FROM removed WHERE kind = 'device' AND key = NEW.id);
    DELETE FROM removed WHERE kind = 'device' AND key = NEW.id;
    DELETE FROM registry_outbox WHERE kind = 'device' AND key = NEW.id;
    INSERT INTO registry_outbox (kind, key) VALUES ('device', NEW.id);
END;
CREATE TRIGGER devices_shared_update AFTER UPDATE OF profile, security_profile, status, secret_hash ON devices
WHEN OLD.profile IS NOT NEW.profile OR OLD.security_profile IS NOT NEW.security_profile
    OR OLD.status IS NOT NEW.status OR OLD.secret_hash IS NOT NEW.secret_hash
BEGIN
    UPDATE devices SET changed = max((julianday('now') - 2440587.5) * 86400.0, coalesce(OLD.changed, OLD.created) + 0.001), changed_by = NULL
        WHERE id = NEW.id;
    DELETE FROM registry_outbox WHERE kind = 'device' AND key = NEW.id;
    INSERT INTO registry_outbox (kind, key) VALUES ('device', NEW.id);
END;
CREATE TRIGGER devices_shared_delete AFTER DELETE ON devices
BEGIN
    DELETE FROM removed WHERE kind = 'device' AND key = OLD.id;
    INSERT INTO removed (kind, key, at, by)
        VALUES ('device', OLD.id, max((julianday('now') - 2440587.5) * 86400.0, coalesce(OLD.changed, OLD.created) + 0.001), NULL);
    DELETE FROM registry_outbox WHERE kind = 'device' AND key = OLD.id;
    INSERT INTO registry_outbox (kind, key) VALUES ('device', OLD.id);
END;
CREATE TRIGGER device_groups_shared_insert AFTER INSERT ON device_groups
BEGIN
    UPDATE devices SET changed = max((julianday('now') - 2440587.5) * 86400.0, coalesce(changed, created) + 0.001), changed_by = NULL
        WHERE id = NEW.device;
    DELETE FROM registry_outbox WHERE kind = 'device' AND key = NEW.device;
    INSERT INTO registry_outbox (kind, key) VALUES ('device', NEW.device);
END;
CREATE TRIGGER device_groups_shared_delete AFTER DELETE ON device_groups
BEGIN
    UPDATE devices SET changed = max((julianday('now') - 2440587.5) * 86400.0, coalesce(changed, created) + 0.001), changed_by = NULL
        WHERE id = OLD.device;
    DELETE FROM registry_outbox WHERE kind = 'device' AND key = OLD.device;
    INSERT INTO registry_outbox (kind, key) VALUES ('device', OLD.device);
END;
CREATE TRIGGER id_tags_shared_insert AFTER INSERT ON id_tags
BEGIN
    UPDATE id_tags SET changed = max((julianday('now') - 2440587.5) * 86400.0,
        coalesce((SELECT at FROM removed WHERE kind = 'id-tag' AND key = NEW.id_tag) + 0.001, 0)),
        changed_by = NULL WHERE id_tag = NEW.id_tag;
    DELETE FROM removed WHERE kind = 'id-tag' AND key = NEW.id_tag;
    DELETE FROM registry_outbox WHERE kind = 'id-tag' AND key = NEW.id_tag;
    INSERT INTO registry_outbox (kind, key) VALUES ('id-tag', NEW.id_tag);
END;
CREATE TRIGGER id_tags_shared_update AFTER UPDATE OF status, expires ON id_tags
WHEN OLD.status IS NOT NEW.status OR OLD.expires IS NOT NEW.expires
BEGIN
    UPDATE id_tags SET changed = max((julianday('now') - 2440587.5) * 86400.0, coalesce(OLD.changed, 0) + 0.001), changed_by = NULL
        WHERE id_tag = NEW.id_tag;
    DELETE FROM registry_outbox WHERE kind = 'id-tag' AND key = NEW.id_tag;
    INSERT INTO registry_outbox (kind, key) VALUES ('id-tag', NEW.id_tag);
END;
CREATE TRIGGER id_tags_shared_delete AFTER DELETE ON id_tags
BEGIN
    DELETE FROM removed WHERE kind = 'id-tag' AND key = OLD.id_tag;
    INSERT INTO removed (kind, key, at, by)
        VALUES ('id-tag', OLD.id_tag, max((julianday('now') - 2440587.5) * 86400.0, coalesce(OLD.changed, 0) + 0.001), NULL);
    DELETE FROM registry_outbox WHERE kind = 'id-tag' AND key = OLD.id_tag;
    INSERT INTO registry_outbox (kind, key) VALUES ('id-tag', OLD.id_tag);
END;
"""

# The central side's review (session 13): the hub finds the devices blocked while
# connected (a partial index: only blocked rows), retried StartTransactions by the
# charger's own start time, and id tags regardless of case (OCPP IdToken is
# case-insensitive; the primary key stays as it was, so tags that differ only in
# case may both be there: the lookup then takes the one that is not Accepted)
_V4 = """
CREATE INDEX devices_blocked ON devices (id) WHERE status = 'blocked';
ALTER TABLE transactions ADD COLUMN station_started TEXT;
CREATE INDEX id_tags_nocase ON id_tags (id_tag COLLATE NOCASE);
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4)
SCHEMA_VERSION = len(MIGRATIONS)


def pending_migrations(version: int, where: str, migrations: Sequence[str] = MIGRATIONS) -> list[tuple[int, str]]:
    """(new version, script) for each migration a registry at ``version`` still needs.

    A registry newer than ``migrations`` knows is refused: this wsctl would not
    know what its tables mean, and writing to it could lose what a newer one keeps.
    """
    newest = len(migrations)
    if version > newest:
        raise InvalidInput(
            f"{where}: registry schema version {version} is newer than this wsctl reads ({newest})",
            hint="use the wsctl version that wrote it, or a newer one",
        )
    if version < 0:
        raise InvalidInput(f"{where}: registry schema version {version} is not valid")
    return [(index + 1, migrations[index]) for index in range(version, newest)]
