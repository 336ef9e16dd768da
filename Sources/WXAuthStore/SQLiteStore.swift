import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The embedded store: one SQLite file in WAL mode, safe for many processes writing at once.
///
/// Every write is one `BEGIN IMMEDIATE` transaction; waiting writers block in SQLite's busy handler
/// (`busyTimeout`) rather than failing.
public final class SQLiteStore: Store {
    private let connection: Mutex<SQLiteConnectionBox>

    /// Opens the database at `path` (`:memory:` for a private in-memory one) and brings its schema up to date.
    public init(path: String, busyTimeoutMilliseconds: Int32 = 10_000) throws {
        // Switching a new file to WAL takes an exclusive lock that SQLite may refuse at once, without its busy
        // handler, when other processes open the same new file at the same moment (cold starts racing): then
        // the whole opening is tried again, for at most the busy timeout.
        var waited: Int32 = 0
        while true {
            do {
                let connection = try Self.open(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
                self.connection = Mutex(SQLiteConnectionBox(connection))
                return
            } catch let error as StoreError
                where error.description.contains("database is locked") && waited < busyTimeoutMilliseconds
            {
                usleep(10_000)
                waited += 10
            }
        }
    }

    private static func open(path: String, busyTimeoutMilliseconds: Int32) throws -> SQLiteConnection {
        let connection = try SQLiteConnection(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        // WAL lets readers run beside the writer; NORMAL skips the fsync per commit that WAL makes safe to skip.
        try connection.query("PRAGMA journal_mode=WAL")
        try connection.execute("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON")
        try migrate(connection)
        return connection
    }

    /// Applies the migrations this database has not seen, under the write lock so racing cold starts
    /// apply each exactly once.
    static func migrate(_ connection: SQLiteConnection) throws {
        let latest = SQLiteSchema.migrations.count
        guard try userVersion(connection) < latest else { return }
        try connection.writeTransaction {
            let current = try userVersion(connection)
            guard current < latest else { return }
            for migration in SQLiteSchema.migrations[current...] {
                try connection.execute(migration)
            }
            try connection.execute("PRAGMA user_version = \(latest)")
        }
    }

    private static func userVersion(_ connection: SQLiteConnection) throws -> Int {
        Int(try connection.query("PRAGMA user_version").first?.first?.integer ?? 0)
    }

    @discardableResult
    func withConnection<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        try connection.withLock { try body($0.connection) }
    }

    // MARK: - Store

    public func signIn(_ record: SignInRecord) async throws -> UserRecord {
        try withConnection { db in
            try db.writeTransaction {
                let user = try Self.upsertIdentity(db, record)
                try db.query(
                    "INSERT INTO refresh_families (id, user_id, appid, openid, created_at) VALUES (?, ?, ?, ?, ?)",
                    [
                        .text(record.familyId), .text(user.id), .text(record.appid), .text(record.openid),
                        .integer(record.now),
                    ]
                )
                try db.query(
                    "INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at) VALUES (?, ?, ?, ?)",
                    [
                        .blob(record.refreshTokenHash), .text(record.familyId), .integer(record.now),
                        .integer(record.refreshExpiresAt),
                    ]
                )
                _ = try Self.sweepExpired(db, now: record.now)
                return user
            }
        }
    }

    private static func upsertIdentity(_ db: SQLiteConnection, _ record: SignInRecord) throws -> UserRecord {
        let existing = try db.query(
            "SELECT user_id FROM identities WHERE appid = ? AND openid = ?",
            [.text(record.appid), .text(record.openid)]
        ).first?.first?.text
        let userId: String
        if let existing {
            userId = existing
            try db.query(
                "UPDATE identities SET session_key = ?, updated_at = ? WHERE appid = ? AND openid = ?",
                [
                    record.sealedSessionKey.map(SQLValue.blob) ?? .null, .integer(record.now), .text(record.appid),
                    .text(record.openid),
                ]
            )
            if let unionid = record.unionid {
                // An identity first seen without unionid gains it once the app is bound to the open platform.
                try db.query(
                    "UPDATE users SET unionid = ? WHERE id = ? AND unionid IS NULL AND NOT EXISTS (SELECT 1 FROM users WHERE unionid = ?)",
                    [.text(unionid), .text(userId), .text(unionid)]
                )
            }
            try db.query("UPDATE users SET updated_at = ? WHERE id = ?", [.integer(record.now), .text(userId)])
        } else {
            let linked = try record.unionid.flatMap {
                try db.query("SELECT id FROM users WHERE unionid = ?", [.text($0)]).first?.first?.text
            }
            if let linked {
                userId = linked
                try db.query("UPDATE users SET updated_at = ? WHERE id = ?", [.integer(record.now), .text(userId)])
            } else {
                userId = record.newUserId
                try db.query(
                    "INSERT INTO users (id, unionid, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    [
                        .text(userId), record.unionid.map(SQLValue.text) ?? .null, .integer(record.now),
                        .integer(record.now),
                    ]
                )
            }
            try db.query(
                "INSERT INTO identities (appid, openid, user_id, session_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .text(record.appid), .text(record.openid), .text(userId),
                    record.sealedSessionKey.map(SQLValue.blob) ?? .null, .integer(record.now), .integer(record.now),
                ]
            )
        }
        guard let user = try loadUser(db, id: userId) else { throw StoreError("sign-in lost its user") }
        return user
    }

    /// Expired tokens deleted by each sign-in: enough to outpace growth, few enough to cost nothing noticeable.
    static let opportunisticSweep = 20

    /// Deletes a bounded batch of long-expired refresh tokens and the families they leave empty, so the tables
    /// do not grow without a cron job.
    private static func sweepExpired(
        _ db: SQLiteConnection,
        now: Int64,
        limit: Int = opportunisticSweep
    ) throws -> SweepReport {
        let gone = try db.query(
            """
            DELETE FROM refresh_tokens WHERE rowid IN (SELECT rowid FROM refresh_tokens WHERE expires_at < ? LIMIT ?)
            RETURNING family_id
            """,
            [.integer(now - SweepReport.grace), .integer(Int64(limit))]
        )
        var families = 0
        for familyId in Set(gone.compactMap { $0.first?.text }) {
            try db.query(
                "DELETE FROM refresh_families WHERE id = ? AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = ?)",
                [.text(familyId), .text(familyId)]
            )
            families += db.changes
        }
        return SweepReport(refreshTokens: gone.count, families: families)
    }

    public func sweepExpired(now: Int64, limit: Int) async throws -> SweepReport {
        try withConnection { db in try db.writeTransaction { try Self.sweepExpired(db, now: now, limit: limit) } }
    }

    /// The user columns every user read selects, in ``user(from:at:)``'s order.
    private static let userColumns = """
        u.id, u.unionid, u.created_at, u.updated_at, u.nickname, u.picture, u.gender, u.city, u.province, u.country,
        u.language, u.phone_number, u.phone_country_code
        """

    private static func user(from row: [SQLValue], at start: Int) -> UserRecord {
        let profile = UserProfile(
            nickname: row[start + 4].text,
            picture: row[start + 5].text,
            gender: row[start + 6].integer.map(Int.init),
            city: row[start + 7].text,
            province: row[start + 8].text,
            country: row[start + 9].text,
            language: row[start + 10].text,
            phoneNumber: row[start + 11].text,
            phoneCountryCode: row[start + 12].text
        )
        return UserRecord(
            id: row[start].text ?? "",
            unionid: row[start + 1].text,
            createdAt: row[start + 2].integer ?? 0,
            updatedAt: row[start + 3].integer ?? 0,
            profile: profile
        )
    }

    private static func loadUser(_ db: SQLiteConnection, id: String) throws -> UserRecord? {
        guard let row = try db.query("SELECT \(userColumns) FROM users u WHERE u.id = ?", [.text(id)]).first else {
            return nil
        }
        return user(from: row, at: 0)
    }

    private static func loadSession(_ db: SQLiteConnection, familyId: String) throws -> SessionRecord? {
        let sql = """
            SELECT f.appid, f.openid, f.revoked_at, \(userColumns)
            FROM refresh_families f JOIN users u ON u.id = f.user_id WHERE f.id = ?
            """
        guard let row = try db.query(sql, [.text(familyId)]).first else { return nil }
        return SessionRecord(
            familyId: familyId,
            user: user(from: row, at: 3),
            appid: row[0].text ?? "",
            openid: row[1].text ?? "",
            revoked: row[2] != .null
        )
    }

    public func rotateRefreshToken(
        presentedHash: [UInt8],
        newHash: [UInt8],
        newExpiresAt: Int64,
        now: Int64
    ) async throws
        -> RotationOutcome
    {
        try withConnection { db in
            try db.writeTransaction {
                // The one conditional update: only a live, unspent token of a live family is spent.
                let spent = try db.query(
                    """
                    UPDATE refresh_tokens SET spent_at = ?
                    WHERE hash = ? AND spent_at IS NULL AND expires_at > ?
                      AND EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL)
                    RETURNING family_id
                    """,
                    [.integer(now), .blob(presentedHash), .integer(now)]
                )
                if let familyId = spent.first?.first?.text {
                    try db.query(
                        "INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at) VALUES (?, ?, ?, ?)",
                        [.blob(newHash), .text(familyId), .integer(now), .integer(newExpiresAt)]
                    )
                    guard let session = try Self.loadSession(db, familyId: familyId) else { return .unknown }
                    return .rotated(session)
                }
                let sql = """
                    SELECT t.family_id, t.spent_at, t.expires_at, f.revoked_at
                    FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = ?
                    """
                guard let row = try db.query(sql, [.blob(presentedHash)]).first else { return .unknown }
                if row[3] != .null { return .revoked }
                if row[1] != .null {
                    try db.query(
                        "UPDATE refresh_families SET revoked_at = ?, revoke_reason = 'reuse' WHERE id = ? AND revoked_at IS NULL",
                        [.integer(now), row[0]]
                    )
                    return .reused
                }
                return .expired
            }
        }
    }

    public func session(familyId: String) async throws -> SessionRecord? {
        try withConnection { try Self.loadSession($0, familyId: familyId) }
    }

    public func familyId(forRefreshTokenHash hash: [UInt8]) async throws -> String? {
        try withConnection { db in
            try db.query("SELECT family_id FROM refresh_tokens WHERE hash = ?", [.blob(hash)]).first?.first?.text
        }
    }

    public func revokeFamily(id: String, now: Int64) async throws {
        try withConnection { db in
            try db.query(
                "UPDATE refresh_families SET revoked_at = ?, revoke_reason = 'logout' WHERE id = ? AND revoked_at IS NULL",
                [.integer(now), .text(id)]
            )
        }
    }

    public func sealedSessionKey(appid: String, openid: String) async throws -> [UInt8]? {
        try withConnection { db in
            try db.query(
                "SELECT session_key FROM identities WHERE appid = ? AND openid = ?",
                [.text(appid), .text(openid)]
            ).first?.first?.blob
        }
    }
}

extension SQLiteStore {
    // MARK: - Profiles

    public func updateProfile(
        userId: String,
        profile: UserProfile,
        unionid: String?,
        now: Int64
    ) async throws -> UserRecord {
        try withConnection { db in
            try db.writeTransaction {
                guard let current = try Self.loadUser(db, id: userId) else { throw StoreError("no such user") }
                let merged = current.profile.merging(profile)
                try db.query(
                    """
                    UPDATE users SET nickname = ?, picture = ?, gender = ?, city = ?, province = ?, country = ?,
                      language = ?, phone_number = ?, phone_country_code = ?, updated_at = ? WHERE id = ?
                    """,
                    [
                        .optional(merged.nickname), .optional(merged.picture),
                        merged.gender.map { .integer(Int64($0)) } ?? .null,
                        .optional(merged.city), .optional(merged.province), .optional(merged.country),
                        .optional(merged.language), .optional(merged.phoneNumber), .optional(merged.phoneCountryCode),
                        .integer(now), .text(userId),
                    ]
                )
                if let unionid {
                    try db.query(
                        "UPDATE users SET unionid = ? WHERE id = ? AND unionid IS NULL AND NOT EXISTS (SELECT 1 FROM users WHERE unionid = ?)",
                        [.text(unionid), .text(userId), .text(unionid)]
                    )
                }
                guard let updated = try Self.loadUser(db, id: userId) else { throw StoreError("no such user") }
                return updated
            }
        }
    }

    // MARK: - App token

    public func appToken(appid: String) async throws -> CachedAppToken? {
        try withConnection { db in
            guard
                let row = try db.query("SELECT token, expires_at FROM app_tokens WHERE appid = ?", [.text(appid)])
                    .first,
                let token = row[0].blob
            else { return nil }
            return CachedAppToken(sealedToken: token, expiresAt: row[1].integer ?? 0)
        }
    }

    public func saveAppToken(appid: String, token: CachedAppToken) async throws {
        try withConnection { db in
            try db.query(
                """
                INSERT INTO app_tokens (appid, token, expires_at) VALUES (?, ?, ?)
                ON CONFLICT (appid) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
                """,
                [.text(appid), .blob(token.sealedToken), .integer(token.expiresAt)]
            )
        }
    }

    public func acquireAppTokenLease(appid: String, holder: String, until: Int64, now: Int64) async throws -> Bool {
        try withConnection { db in
            // One statement: insert the row with the lease, or take a lapsed lease; a live one blocks both.
            let taken = try db.query(
                """
                INSERT INTO app_tokens (appid, lease_holder, lease_until) VALUES (?, ?, ?)
                ON CONFLICT (appid) DO UPDATE SET lease_holder = excluded.lease_holder, lease_until = excluded.lease_until
                WHERE app_tokens.lease_until <= ? OR app_tokens.lease_holder = excluded.lease_holder
                RETURNING lease_holder
                """,
                [.text(appid), .text(holder), .integer(until), .integer(now)]
            )
            return taken.first?.first?.text == holder
        }
    }

    public func releaseAppTokenLease(appid: String, holder: String) async throws {
        try withConnection { db in
            try db.query(
                "UPDATE app_tokens SET lease_holder = NULL, lease_until = 0 WHERE appid = ? AND lease_holder = ?",
                [.text(appid), .text(holder)]
            )
        }
    }
}

extension SQLValue {
    static func optional(_ text: String?) -> SQLValue { text.map(SQLValue.text) ?? .null }
}

/// Lets the non-Sendable connection live inside a `Mutex`, which is what makes using it safe.
struct SQLiteConnectionBox: @unchecked Sendable {
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
}
