import Logging
import PostgresWire
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

    /// A store for `settings`; connects and migrates lazily, on the first operation.
    public convenience init(settings: PostgresSettings, functionTimeout: Duration, logger: Logger) {
        self.init(settings: settings, timeouts: PostgresTimeouts(functionTimeout: functionTimeout), logger: logger)
    }

    /// A store with its timeouts given one by one (tests).
    init(settings: PostgresSettings, timeouts: PostgresTimeouts, logger: Logger) {
        self.timeouts = timeouts
        self.logger = logger
        link = PostgresSession(settings: settings, timeouts: timeouts, logger: logger)
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
        locks: [(String, String)] = [],
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        var parameters = [PostgresParameter(String(timeouts.statementMilliseconds))]
        var sql = "SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $1, true)"
        for (namespace, key) in locks {
            parameters.append(PostgresParameter(namespace))
            parameters.append(PostgresParameter(key))
            let (namespaceParameter, keyParameter) = ("$\(parameters.count - 1)", "$\(parameters.count)")
            sql +=
                ", pg_advisory_xact_lock(hashtext(concat(current_schema(), '/', \(namespaceParameter)::text)), hashtext(\(keyParameter)))"
        }
        let prologue = PostgresQuery(unsafeSQL: sql, parameters: parameters)
        return try await retryingLostRaces {
            // BEGIN and the timeouts (and locks) in one round trip, with the schema check on a cold start.
            try await self.onConnection(opening: ["BEGIN", prologue]) { connection in
                do {
                    let result = try body(connection)
                    try connection.query("COMMIT")
                    return result
                } catch {
                    // A failed connection has ended the transaction with itself.
                    if !connection.isClosed { _ = try? connection.query("ROLLBACK") }
                    throw error
                }
            }
        }
    }

    /// Runs one statement on its own (its own implicit transaction): a round trip cheaper than ``transaction(_:)``.
    /// The client-side watchdog bounds it; a single indexed statement has nothing long to wait for.
    @discardableResult
    func statement<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
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

    /// Runs `body` in a turn on the session's connection (on the session's thread), migrating first on the
    /// process's first operation. The watchdog bounds the migration and `body` each: every wait of the
    /// connection ends at its deadline, and a connection that timed out is closed and dropped, so the next turn
    /// reconnects.
    ///
    /// `opening` (a transaction's `BEGIN` and prologue) runs before `body`; on the process's first operation it
    /// shares one round trip with the schema version check, so a cold start waits for the server once for both.
    /// A failed opening is rolled back here.
    private func onConnection<T: Sendable>(
        opening: [PostgresQuery] = [],
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let logger = self.logger
        return try await link.withTurn { session in
            let connection = try session.open()
            defer { session.finish(connection) }
            do {
                connection.deadline = ContinuousClock.now + session.timeouts.watchdog
                var opened = opening.isEmpty
                if !session.migrated {
                    // Current already (the common case): done, the opening with it. Otherwise, or when any of it
                    // failed, undo what ran and migrate (which checks again under its lock), then open as usual.
                    if let results = try? connection.pipeline([PostgresSchema.versionQuery] + opening),
                        PostgresSchema.isCurrent(results[0])
                    {
                        opened = true
                    } else {
                        if !connection.isClosed, connection.transactionStatus != UInt8(ascii: "I") {
                            _ = try? connection.query("ROLLBACK")
                        }
                        try PostgresSchema.migrate(connection)
                    }
                    session.migrated = true
                    connection.deadline = ContinuousClock.now + session.timeouts.watchdog
                }
                if !opened {
                    do {
                        try connection.pipeline(opening)
                    } catch {
                        // A failed connection has ended the transaction with itself.
                        if !connection.isClosed { _ = try? connection.query("ROLLBACK") }
                        throw error
                    }
                }
                return try body(connection)
            } catch {
                if !(error is StoreError) && !Self.isLostRace(error) {
                    logger.error(
                        "PostgreSQL operation failed",
                        metadata: ["reason": "\(PostgresSession.reason(error))"]
                    )
                }
                throw error
            }
        }
    }

    private static func isLostRace(_ error: any Error) -> Bool {
        // unique_violation, serialization_failure, deadlock_detected
        ["23505", "40001", "40P01"].contains(PostgresSession.sqlState(error) ?? "")
    }

    @discardableResult
    static func rows(_ connection: PostgresConnection, _ query: PostgresQuery) throws -> [PostgresRow] {
        try connection.query(query).rows
    }

    // MARK: - Sign-in

    public func signIn(_ record: SignInRecord) async throws -> UserRecord {
        // Sign-ins of one identity, and of one unionid, queue on advisory locks: always identity first, then unionid.
        var locks = [("wxauth.identity", record.appid + "/" + record.openid)]
        if let unionid = record.unionid { locks.append(("wxauth.unionid", unionid)) }
        return try await transaction(locks: locks) { db in
            let userId = try self.upsertIdentity(db, record)
            try Self.rows(
                db,
                """
                INSERT INTO refresh_families (id, user_id, appid, openid, created_at)
                VALUES (\(record.familyId), \(userId), \(record.appid), \(record.openid), \(record.now))
                """
            )
            try Self.rows(
                db,
                """
                INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at)
                VALUES (\(PostgresBytes(record.refreshTokenHash)), \(record.familyId), \(record.now), \(record.refreshExpiresAt))
                """
            )
            _ = try Self.sweep(db, now: record.now, limit: Self.opportunisticSweep)
            guard let user = try Self.loadUser(db, id: userId) else { throw StoreError("sign-in lost its user") }
            return user
        }
    }

    /// The identity's user after creating or updating it. Two first sign-ins of one person on different
    /// instances are serialised by ``signIn(_:)``'s advisory locks; `ON CONFLICT` still makes a later one take the
    /// earlier one's user should they ever meet here, deleting the user it had just created for itself.
    private func upsertIdentity(_ db: PostgresConnection, _ record: SignInRecord) throws -> String {
        let sessionKey = record.sealedSessionKey.map { PostgresBytes($0) }
        let existing = try Self.rows(
            db,
            "SELECT user_id FROM identities WHERE appid = \(record.appid) AND openid = \(record.openid)"
        ).first?.decode(String.self, at: 0)
        if let existing {
            try Self.rows(
                db,
                """
                UPDATE identities SET session_key = \(sessionKey), updated_at = \(record.now)
                WHERE appid = \(record.appid) AND openid = \(record.openid)
                """
            )
            try touch(db, userId: existing, gaining: record.unionid, now: record.now)
            return existing
        }
        let candidate: String
        if let unionid = record.unionid {
            // The user with this unionid, created now unless one exists (or is being created by a racing sign-in).
            candidate =
                try Self.rows(
                    db,
                    """
                    INSERT INTO users (id, unionid, created_at, updated_at) VALUES (\(record.newUserId), \(unionid), \(record.now), \(record.now))
                    ON CONFLICT (unionid) DO UPDATE SET updated_at = excluded.updated_at
                    RETURNING id
                    """
                ).first?.decode(String.self, at: 0) ?? record.newUserId
        } else {
            candidate = record.newUserId
            try Self.rows(
                db,
                """
                INSERT INTO users (id, unionid, created_at, updated_at) VALUES (\(record.newUserId), NULL, \(record.now), \(record.now))
                """
            )
        }
        let owner =
            try Self.rows(
                db,
                """
                INSERT INTO identities (appid, openid, user_id, session_key, created_at, updated_at)
                VALUES (\(record.appid), \(record.openid), \(candidate), \(sessionKey), \(record.now), \(record.now))
                ON CONFLICT (appid, openid) DO UPDATE SET session_key = excluded.session_key, updated_at = excluded.updated_at
                RETURNING user_id
                """
            ).first?.decode(String.self, at: 0) ?? candidate
        guard owner != candidate else { return owner }
        // A racing first sign-in of this identity committed first: its user is the one.
        if candidate == record.newUserId {
            try Self.rows(db, "DELETE FROM users WHERE id = \(record.newUserId)")
        }
        try touch(db, userId: owner, gaining: record.unionid, now: record.now)
        return owner
    }

    /// Marks the user updated, and gives it `unionid` when it has none and no other user has it (an app bound to
    /// the open platform after its users first signed in).
    func touch(_ db: PostgresConnection, userId: String, gaining unionid: String?, now: Int64) throws {
        try Self.rows(
            db,
            """
            UPDATE users SET updated_at = \(now),
              unionid = CASE WHEN unionid IS NULL AND NOT EXISTS (SELECT 1 FROM users o WHERE o.unionid = \(unionid))
                        THEN \(unionid) ELSE unionid END
            WHERE id = \(userId)
            """
        )
    }

    // MARK: - Reading users and sessions

    /// The user columns every user read selects, in ``user(from:at:)``'s order.
    private static let userColumns = """
        u.id, u.unionid, u.created_at, u.updated_at, u.nickname, u.picture, u.gender, u.city, u.province, u.country,
        u.language, u.phone_number, u.phone_country_code
        """

    private static func user(from row: PostgresRow, at start: Int) throws -> UserRecord {
        func text(_ offset: Int) throws -> String? { try row.decode(String?.self, at: start + offset) }
        let profile = UserProfile(
            nickname: try text(4),
            picture: try text(5),
            gender: try row.decode(Int?.self, at: start + 6),
            city: try text(7),
            province: try text(8),
            country: try text(9),
            language: try text(10),
            phoneNumber: try text(11),
            phoneCountryCode: try text(12)
        )
        return UserRecord(
            id: try row.decode(String.self, at: start),
            unionid: try text(1),
            createdAt: try row.decode(Int64.self, at: start + 2),
            updatedAt: try row.decode(Int64.self, at: start + 3),
            profile: profile
        )
    }

    static func loadUser(_ db: PostgresConnection, id: String, locking: Bool = false) throws -> UserRecord? {
        let sql = "SELECT \(userColumns) FROM users u WHERE u.id = $1" + (locking ? " FOR UPDATE" : "")
        let query = PostgresQuery(unsafeSQL: sql, parameters: [PostgresParameter(id)])
        guard let row = try rows(db, query).first else { return nil }
        return try user(from: row, at: 0)
    }

    private static func loadSession(_ db: PostgresConnection, familyId: String) throws -> SessionRecord? {
        let sql = """
            SELECT f.appid, f.openid, f.revoked_at IS NOT NULL, \(userColumns)
            FROM refresh_families f JOIN users u ON u.id = f.user_id WHERE f.id = $1
            """
        guard let row = try rows(db, PostgresQuery(unsafeSQL: sql, parameters: [PostgresParameter(familyId)])).first
        else {
            return nil
        }
        return SessionRecord(
            familyId: familyId,
            user: try user(from: row, at: 3),
            appid: try row.decode(String.self, at: 0),
            openid: try row.decode(String.self, at: 1),
            revoked: try row.decode(Bool.self, at: 2)
        )
    }

    // MARK: - Refresh tokens

    public func rotateRefreshToken(
        presentedHash: [UInt8],
        newHash: [UInt8],
        newExpiresAt: Int64,
        now: Int64
    ) async throws
        -> RotationOutcome
    {
        let presented = PostgresBytes(presentedHash)
        return try await transaction { db in
            // The one conditional update: only a live, unspent token of a live family is spent. A concurrent
            // rotation of the same token waits on the row lock, then re-checks `spent_at` and finds it set.
            let spent = try Self.rows(
                db,
                """
                UPDATE refresh_tokens t SET spent_at = \(now)
                FROM refresh_families f
                WHERE t.hash = \(presented) AND t.spent_at IS NULL AND t.expires_at > \(now)
                  AND f.id = t.family_id AND f.revoked_at IS NULL
                RETURNING t.family_id
                """
            )
            if let familyId = try spent.first?.decode(String.self, at: 0) {
                try Self.rows(
                    db,
                    """
                    INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at)
                    VALUES (\(PostgresBytes(newHash)), \(familyId), \(now), \(newExpiresAt))
                    """
                )
                guard let session = try Self.loadSession(db, familyId: familyId) else { return .unknown }
                return .rotated(session)
            }
            let found = try Self.rows(
                db,
                """
                SELECT t.family_id, t.spent_at IS NOT NULL, f.revoked_at IS NOT NULL
                FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = \(presented)
                """
            ).first
            guard let found else { return .unknown }
            let (familyId, isSpent, isRevoked) = (
                try found.decode(String.self, at: 0), try found.decode(Bool.self, at: 1),
                try found.decode(Bool.self, at: 2)
            )
            if isRevoked { return .revoked }
            if isSpent {
                try Self.rows(
                    db,
                    """
                    UPDATE refresh_families SET revoked_at = \(now), revoke_reason = 'reuse'
                    WHERE id = \(familyId) AND revoked_at IS NULL
                    """
                )
                return .reused
            }
            return .expired
        }
    }

    public func session(familyId: String) async throws -> SessionRecord? {
        try await statement { try Self.loadSession($0, familyId: familyId) }
    }

    public func familyId(forRefreshTokenHash hash: [UInt8]) async throws -> String? {
        try await statement { db in
            try Self.rows(db, "SELECT family_id FROM refresh_tokens WHERE hash = \(PostgresBytes(hash))")
                .first?.decode(String.self, at: 0)
        }
    }

    public func revokeFamily(id: String, now: Int64) async throws {
        try await statement { db in
            try Self.rows(
                db,
                "UPDATE refresh_families SET revoked_at = \(now), revoke_reason = 'logout' WHERE id = \(id) AND revoked_at IS NULL"
            )
        }
    }

    public func sealedSessionKey(appid: String, openid: String) async throws -> [UInt8]? {
        try await statement { db in
            let row = try Self.rows(
                db,
                "SELECT session_key FROM identities WHERE appid = \(appid) AND openid = \(openid)"
            ).first
            return try row?.decode(PostgresBytes?.self, at: 0).map(\.bytes)
        }
    }

    // MARK: - Sweeping

    /// Expired tokens deleted by each sign-in: enough to outpace growth, few enough to cost nothing noticeable.
    static let opportunisticSweep = 20

    public func sweepExpired(now: Int64, limit: Int) async throws -> SweepReport {
        try await transaction { try Self.sweep($0, now: now, limit: limit) }
    }

    /// Deletes up to `limit` refresh tokens expired for longer than ``SweepReport/grace``, then the families
    /// those deletions left empty. `SKIP LOCKED`: instances sweeping at once take different rows, never wait.
    private static func sweep(_ db: PostgresConnection, now: Int64, limit: Int) throws -> SweepReport {
        let gone = try rows(
            db,
            """
            DELETE FROM refresh_tokens WHERE hash IN (
              SELECT hash FROM refresh_tokens WHERE expires_at < \(now - SweepReport.grace) LIMIT \(limit) FOR UPDATE SKIP LOCKED
            ) RETURNING family_id
            """
        )
        guard !gone.isEmpty else { return SweepReport() }
        let families = Array(Set(try gone.map { try $0.decode(String.self, at: 0) }))
        let emptied = try rows(
            db,
            """
            DELETE FROM refresh_families f WHERE f.id = ANY(\(families))
              AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id)
            RETURNING f.id
            """
        )
        return SweepReport(refreshTokens: gone.count, families: emptied.count)
    }
}
