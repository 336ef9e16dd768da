import Logging
import NIOCore
import PostgresNIO
import WXAuthStore

/// The store for deployments of many instances: one PostgreSQL database shared by every function process.
///
/// Same semantics as ``SQLiteStore``. Each process holds one connection, opened on the first operation (never
/// at start-up) and kept across warm invocations. Every operation is one short transaction, bounded by a
/// statement timeout and a client-side watchdog that both fit inside the function's timeout.
public final class PostgresStore: Store {
    private let link: PostgresSession
    private let timeouts: PostgresTimeouts
    let logger: Logger
    private let migrated: Migrated

    /// A store for `settings`; connects and migrates lazily, on the first operation.
    public convenience init(settings: PostgresSettings, functionTimeout: Duration, logger: Logger) {
        self.init(settings: settings, timeouts: PostgresTimeouts(functionTimeout: functionTimeout), logger: logger)
    }

    /// A store with its timeouts given one by one (tests).
    init(settings: PostgresSettings, timeouts: PostgresTimeouts, logger: Logger) {
        self.timeouts = timeouts
        self.logger = logger
        link = PostgresSession(settings: settings, timeouts: timeouts, logger: logger)
        migrated = Migrated()
    }

    /// Closes the connection; later operations would open a new one.
    public func close() async {
        await link.close()
    }

    // MARK: - Transactions

    /// Runs `body` in one READ COMMITTED transaction, with the statement and lock timeouts set for it alone
    /// (`set_config(…, true)`, i.e. `SET LOCAL`, so a transaction-mode pooler such as PgBouncer carries nothing
    /// over to other clients). A unique violation, serialization failure or deadlock — a concurrent writer won
    /// a race — runs `body` again, where it sees the winner's row.
    ///
    /// `locks` names advisory locks (a namespace and a key) taken first, in order, in the same round trip as the
    /// timeouts: transactions about one person then queue up instead of deadlocking on each other's rows.
    /// Advisory locks are database-wide; the namespace is qualified with the schema, so deployments (or tests)
    /// in separate schemas of one database never queue on each other's.
    @discardableResult
    func transaction<T: Sendable>(
        locks: [(String, String)] = [], _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        var bindings = PostgresBindings()
        bindings.append(String(timeouts.statementMilliseconds))
        var sql = "SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $1, true)"
        for (namespace, key) in locks {
            bindings.append(namespace)
            bindings.append(key)
            let (namespaceParameter, keyParameter) = ("$\(bindings.count - 1)", "$\(bindings.count)")
            sql += ", pg_advisory_xact_lock(hashtext(concat(current_schema(), '/', \(namespaceParameter)::text)), hashtext(\(keyParameter)))"
        }
        let prologue = PostgresQuery(unsafeSQL: sql, binds: bindings)
        return try await retryingLostRaces {
            try await self.onConnection { connection in
                try await connection.query("BEGIN", logger: self.logger)
                do {
                    try await Self.rows(connection, prologue, self.logger)
                    let result = try await body(connection)
                    try await connection.query("COMMIT", logger: self.logger)
                    return result
                } catch {
                    // Never on a closed connection: NIO drops a query written after the close has finished, and
                    // postgres-nio then never completes it. A closed connection has ended the transaction anyway.
                    if !connection.isClosed && !PostgresSession.isTransportFailure(error) {
                        _ = try? await connection.query("ROLLBACK", logger: self.logger)
                    }
                    throw error
                }
            }
        }
    }

    /// Runs one statement on its own (its own implicit transaction): a round trip cheaper than ``transaction(_:)``.
    /// The client-side watchdog bounds it; a single indexed statement has nothing long to wait for.
    @discardableResult
    func statement<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await retryingLostRaces { try await self.onConnection(body) }
    }

    private func retryingLostRaces<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await body()
            } catch let error where !(error is StoreError) {
                guard attempt < 4, Self.isLostRace(error) else {
                    throw StoreError("the PostgreSQL operation failed (\(PostgresSession.reason(error)))")
                }
            }
        }
    }

    /// Runs `body` in a turn on the session's connection, migrating first on the process's first operation.
    /// The watchdog bounds the migration and `body` each: when it fires, the caller gets its error at once and
    /// the connection is dropped, while the abandoned work is left to fail on the closed connection without
    /// holding the turn.
    private func onConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await link.take()
        do {
            if !(await migrated.done) {
                let logger = self.logger
                try await withWatchdog(connection, timeouts.watchdog) { try await PostgresSchema.migrate($0, logger: logger) }
                await migrated.set()
            }
            let result = try await withWatchdog(connection, timeouts.watchdog, body)
            await link.giveBack(connection, healthy: true)
            return result
        } catch {
            await link.giveBack(connection, healthy: !connection.isClosed && !PostgresSession.isTransportFailure(error))
            if !(error is StoreError) && !Self.isLostRace(error) {
                logger.error("PostgreSQL operation failed", metadata: ["reason": "\(PostgresSession.reason(error))"])
            }
            throw error
        }
    }

    private static func isLostRace(_ error: any Error) -> Bool {
        // unique_violation, serialization_failure, deadlock_detected
        ["23505", "40001", "40P01"].contains(PostgresSession.sqlState(error) ?? "")
    }

    @discardableResult
    static func rows(_ connection: PostgresConnection, _ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
        try await connection.query(query, logger: logger).collect()
    }

    // MARK: - Sign-in

    public func signIn(_ record: SignInRecord) async throws -> UserRecord {
        // Sign-ins of one identity, and of one unionid, queue on advisory locks: always identity first, then unionid.
        var locks = [("wxauth.identity", record.appid + "/" + record.openid)]
        if let unionid = record.unionid { locks.append(("wxauth.unionid", unionid)) }
        return try await transaction(locks: locks) { db in
            let userId = try await self.upsertIdentity(db, record)
            let logger = self.logger
            try await Self.rows(
                db,
                """
                INSERT INTO refresh_families (id, user_id, appid, openid, created_at)
                VALUES (\(record.familyId), \(userId), \(record.appid), \(record.openid), \(record.now))
                """, logger
            )
            try await Self.rows(
                db,
                """
                INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at)
                VALUES (\(ByteBuffer(bytes: record.refreshTokenHash)), \(record.familyId), \(record.now), \(record.refreshExpiresAt))
                """, logger
            )
            _ = try await Self.sweep(db, now: record.now, limit: Self.opportunisticSweep, logger: logger)
            guard let user = try await Self.loadUser(db, id: userId, logger) else { throw StoreError("sign-in lost its user") }
            return user
        }
    }

    /// The identity's user after creating or updating it. Two first sign-ins of one person on different
    /// instances are serialised by ``signIn(_:)``'s advisory locks; `ON CONFLICT` still makes a later one take the
    /// earlier one's user should they ever meet here, deleting the user it had just created for itself.
    private func upsertIdentity(_ db: PostgresConnection, _ record: SignInRecord) async throws -> String {
        let sessionKey = record.sealedSessionKey.map { ByteBuffer(bytes: $0) }
        let existing = try await Self.rows(
            db, "SELECT user_id FROM identities WHERE appid = \(record.appid) AND openid = \(record.openid)", logger
        ).first?.decode(String.self)
        if let existing {
            try await Self.rows(
                db,
                """
                UPDATE identities SET session_key = \(sessionKey), updated_at = \(record.now)
                WHERE appid = \(record.appid) AND openid = \(record.openid)
                """, logger
            )
            try await touch(db, userId: existing, gaining: record.unionid, now: record.now)
            return existing
        }
        let candidate: String
        if let unionid = record.unionid {
            // The user with this unionid, created now unless one exists (or is being created by a racing sign-in).
            candidate = try await Self.rows(
                db,
                """
                INSERT INTO users (id, unionid, created_at, updated_at) VALUES (\(record.newUserId), \(unionid), \(record.now), \(record.now))
                ON CONFLICT (unionid) DO UPDATE SET updated_at = excluded.updated_at
                RETURNING id
                """, logger
            ).first?.decode(String.self) ?? record.newUserId
        } else {
            candidate = record.newUserId
            try await Self.rows(
                db,
                """
                INSERT INTO users (id, unionid, created_at, updated_at) VALUES (\(record.newUserId), NULL, \(record.now), \(record.now))
                """, logger
            )
        }
        let owner = try await Self.rows(
            db,
            """
            INSERT INTO identities (appid, openid, user_id, session_key, created_at, updated_at)
            VALUES (\(record.appid), \(record.openid), \(candidate), \(sessionKey), \(record.now), \(record.now))
            ON CONFLICT (appid, openid) DO UPDATE SET session_key = excluded.session_key, updated_at = excluded.updated_at
            RETURNING user_id
            """, logger
        ).first?.decode(String.self) ?? candidate
        guard owner != candidate else { return owner }
        // A racing first sign-in of this identity committed first: its user is the one.
        if candidate == record.newUserId {
            try await Self.rows(db, "DELETE FROM users WHERE id = \(record.newUserId)", logger)
        }
        try await touch(db, userId: owner, gaining: record.unionid, now: record.now)
        return owner
    }

    /// Marks the user updated, and gives it `unionid` when it has none and no other user has it (an app bound to
    /// the open platform after its users first signed in).
    func touch(_ db: PostgresConnection, userId: String, gaining unionid: String?, now: Int64) async throws {
        try await Self.rows(
            db,
            """
            UPDATE users SET updated_at = \(now),
              unionid = CASE WHEN unionid IS NULL AND NOT EXISTS (SELECT 1 FROM users o WHERE o.unionid = \(unionid))
                        THEN \(unionid) ELSE unionid END
            WHERE id = \(userId)
            """, logger
        )
    }

    // MARK: - Reading users and sessions

    /// The user columns every user read selects, in ``user(from:at:)``'s order.
    private static let userColumns = """
        u.id, u.unionid, u.created_at, u.updated_at, u.nickname, u.picture, u.gender, u.city, u.province, u.country,
        u.language, u.phone_number, u.phone_country_code
        """

    private static func user(from row: PostgresRandomAccessRow, at start: Int) throws -> UserRecord {
        func text(_ offset: Int) throws -> String? { try row[start + offset].decode(String?.self) }
        let profile = UserProfile(
            nickname: try text(4), picture: try text(5), gender: try row[start + 6].decode(Int?.self), city: try text(7),
            province: try text(8), country: try text(9), language: try text(10), phoneNumber: try text(11),
            phoneCountryCode: try text(12)
        )
        return UserRecord(
            id: try row[start].decode(String.self), unionid: try text(1), createdAt: try row[start + 2].decode(Int64.self),
            updatedAt: try row[start + 3].decode(Int64.self), profile: profile
        )
    }

    static func loadUser(
        _ db: PostgresConnection, id: String, _ logger: Logger, locking: Bool = false
    ) async throws -> UserRecord? {
        let sql = "SELECT \(userColumns) FROM users u WHERE u.id = $1" + (locking ? " FOR UPDATE" : "")
        let query = PostgresQuery(unsafeSQL: sql, binds: binds(id))
        guard let row = try await rows(db, query, logger).first else { return nil }
        return try user(from: row.makeRandomAccess(), at: 0)
    }

    private static func loadSession(_ db: PostgresConnection, familyId: String, _ logger: Logger) async throws -> SessionRecord? {
        let sql = """
            SELECT f.appid, f.openid, f.revoked_at IS NOT NULL, \(userColumns)
            FROM refresh_families f JOIN users u ON u.id = f.user_id WHERE f.id = $1
            """
        guard let row = try await rows(db, PostgresQuery(unsafeSQL: sql, binds: binds(familyId)), logger).first else {
            return nil
        }
        let cells = row.makeRandomAccess()
        return SessionRecord(
            familyId: familyId, user: try user(from: cells, at: 3), appid: try cells[0].decode(String.self),
            openid: try cells[1].decode(String.self), revoked: try cells[2].decode(Bool.self)
        )
    }

    private static func binds(_ text: String) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(text)
        return bindings
    }

    // MARK: - Refresh tokens

    public func rotateRefreshToken(presentedHash: [UInt8], newHash: [UInt8], newExpiresAt: Int64, now: Int64) async throws
        -> RotationOutcome
    {
        let presented = ByteBuffer(bytes: presentedHash)
        return try await transaction { db in
            let logger = self.logger
            // The one conditional update: only a live, unspent token of a live family is spent. A concurrent
            // rotation of the same token waits on the row lock, then re-checks `spent_at` and finds it set.
            let spent = try await Self.rows(
                db,
                """
                UPDATE refresh_tokens t SET spent_at = \(now)
                FROM refresh_families f
                WHERE t.hash = \(presented) AND t.spent_at IS NULL AND t.expires_at > \(now)
                  AND f.id = t.family_id AND f.revoked_at IS NULL
                RETURNING t.family_id
                """, logger
            )
            if let familyId = try spent.first?.decode(String.self) {
                try await Self.rows(
                    db,
                    """
                    INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at)
                    VALUES (\(ByteBuffer(bytes: newHash)), \(familyId), \(now), \(newExpiresAt))
                    """, logger
                )
                guard let session = try await Self.loadSession(db, familyId: familyId, logger) else { return .unknown }
                return .rotated(session)
            }
            let found = try await Self.rows(
                db,
                """
                SELECT t.family_id, t.spent_at IS NOT NULL, f.revoked_at IS NOT NULL
                FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = \(presented)
                """, logger
            ).first
            guard let found else { return .unknown }
            let (familyId, isSpent, isRevoked) = try found.decode((String, Bool, Bool).self)
            if isRevoked { return .revoked }
            if isSpent {
                try await Self.rows(
                    db,
                    """
                    UPDATE refresh_families SET revoked_at = \(now), revoke_reason = 'reuse'
                    WHERE id = \(familyId) AND revoked_at IS NULL
                    """, logger
                )
                return .reused
            }
            return .expired
        }
    }

    public func session(familyId: String) async throws -> SessionRecord? {
        try await statement { try await Self.loadSession($0, familyId: familyId, self.logger) }
    }

    public func familyId(forRefreshTokenHash hash: [UInt8]) async throws -> String? {
        try await statement { db in
            try await Self.rows(db, "SELECT family_id FROM refresh_tokens WHERE hash = \(ByteBuffer(bytes: hash))", self.logger)
                .first?.decode(String.self)
        }
    }

    public func revokeFamily(id: String, now: Int64) async throws {
        try await statement { db in
            try await Self.rows(
                db,
                "UPDATE refresh_families SET revoked_at = \(now), revoke_reason = 'logout' WHERE id = \(id) AND revoked_at IS NULL",
                self.logger
            )
        }
    }

    public func sealedSessionKey(appid: String, openid: String) async throws -> [UInt8]? {
        try await statement { db in
            let row = try await Self.rows(
                db, "SELECT session_key FROM identities WHERE appid = \(appid) AND openid = \(openid)", self.logger
            ).first
            return try row?.decode(ByteBuffer?.self).map { Array($0.readableBytesView) }
        }
    }

    // MARK: - Sweeping

    /// Expired tokens deleted by each sign-in: enough to outpace growth, few enough to cost nothing noticeable.
    static let opportunisticSweep = 20

    public func sweepExpired(now: Int64, limit: Int) async throws -> SweepReport {
        try await transaction { try await Self.sweep($0, now: now, limit: limit, logger: self.logger) }
    }

    /// Deletes up to `limit` refresh tokens expired for longer than ``SweepReport/grace``, then the families
    /// those deletions left empty. `SKIP LOCKED`: instances sweeping at once take different rows, never wait.
    private static func sweep(_ db: PostgresConnection, now: Int64, limit: Int, logger: Logger) async throws -> SweepReport {
        let gone = try await rows(
            db,
            """
            DELETE FROM refresh_tokens WHERE hash IN (
              SELECT hash FROM refresh_tokens WHERE expires_at < \(now - SweepReport.grace) LIMIT \(limit) FOR UPDATE SKIP LOCKED
            ) RETURNING family_id
            """, logger
        )
        guard !gone.isEmpty else { return SweepReport() }
        let families = Array(Set(try gone.map { try $0.decode(String.self) }))
        let emptied = try await rows(
            db,
            """
            DELETE FROM refresh_families f WHERE f.id = ANY(\(families))
              AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id)
            RETURNING f.id
            """, logger
        )
        return SweepReport(refreshTokens: gone.count, families: emptied.count)
    }
}

/// Whether this store's schema is known to be up to date in this process.
private actor Migrated {
    var done = false
    func set() { done = true }
}
