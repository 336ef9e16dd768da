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
    ///
    /// `first` are the transaction's first statements: they travel in that same round trip, and `body` gets their
    /// results. `body` may end the transaction itself with its last statements (``commit(_:_:)``, one round trip
    /// for them and `COMMIT`); otherwise `COMMIT` follows it. Each wait for the server saved here is saved on
    /// every invocation: a returning user's sign-in waits twice instead of nine times.
    @discardableResult
    func transaction<T: Sendable>(
        locks: [(String, String)] = [],
        first: [PostgresQuery],
        _ body: @escaping @Sendable (PostgresConnection, [PostgresResult]) throws -> T
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
            // BEGIN, the timeouts (and locks) and the first statements in one round trip, with the schema check on
            // a cold start.
            try await self.onConnection(opening: ["BEGIN", prologue] + first) { connection, opened in
                do {
                    let result = try body(connection, Array(opened.dropFirst(2)))
                    if connection.transactionStatus != UInt8(ascii: "I") { try connection.query("COMMIT") }
                    return result
                } catch {
                    // A failed connection has ended the transaction with itself.
                    if !connection.isClosed { _ = try? connection.query("ROLLBACK") }
                    throw error
                }
            }
        }
    }

    /// ``transaction(locks:first:_:)`` whose statements all run in `body`.
    @discardableResult
    func transaction<T: Sendable>(
        locks: [(String, String)] = [],
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await transaction(locks: locks, first: []) { connection, _ in try body(connection) }
    }

    /// Runs a transaction's last statements and `COMMIT` in one round trip, ending it; their results.
    @discardableResult
    static func commit(_ connection: PostgresConnection, _ queries: [PostgresQuery]) throws -> [PostgresResult] {
        Array(try connection.pipeline(queries + ["COMMIT"]).dropLast())
    }

    /// Runs one statement on its own (its own implicit transaction): a round trip cheaper than ``transaction(_:)``.
    /// The client-side watchdog bounds it; a single indexed statement has nothing long to wait for.
    @discardableResult
    func statement<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await retryingLostRaces { try await self.onConnection { connection, _ in try body(connection) } }
    }

    /// Runs one read on its own. On the process's first operation it shares the schema check's round trip: the
    /// check and the read are one implicit transaction, and a read changes nothing should the schema turn out to
    /// need migrating (then it runs again after the migration).
    func read(_ query: PostgresQuery) async throws -> PostgresResult {
        try await retryingLostRaces { try await self.onConnection(opening: [query]) { _, results in results[0] } }
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
    /// `opening` (a transaction's `BEGIN`, prologue and first statements, or a read) runs in one round trip before
    /// `body`, which gets their results; on the process's first operation it shares that round trip with the
    /// schema version check, so a cold start waits for the server once for both. A failed opening is rolled back
    /// here.
    private func onConnection<T: Sendable>(
        opening: [PostgresQuery] = [],
        _ body: @escaping @Sendable (PostgresConnection, [PostgresResult]) throws -> T
    ) async throws -> T {
        let logger = self.logger
        return try await link.withTurn { session in
            let connection = try session.open()
            defer { session.finish(connection) }
            do {
                connection.deadline = ContinuousClock.now + session.timeouts.watchdog
                var opened: [PostgresResult]? = opening.isEmpty ? [] : nil
                if !session.migrated {
                    // Current already (the common case): done, the opening with it. Otherwise, or when any of it
                    // failed, undo what ran and migrate (which checks again under its lock), then open as usual.
                    if let results = try? connection.pipeline([PostgresSchema.versionQuery] + opening),
                        PostgresSchema.isCurrent(results[0])
                    {
                        opened = Array(results.dropFirst())
                    } else {
                        if !connection.isClosed, connection.transactionStatus != UInt8(ascii: "I") {
                            _ = try? connection.query("ROLLBACK")
                        }
                        try PostgresSchema.migrate(connection)
                    }
                    session.migrated = true
                    connection.deadline = ContinuousClock.now + session.timeouts.watchdog
                }
                if opened == nil {
                    do {
                        opened = try connection.pipeline(opening)
                    } catch {
                        // A failed connection has ended the transaction with itself.
                        if !connection.isClosed, connection.transactionStatus != UInt8(ascii: "I") {
                            _ = try? connection.query("ROLLBACK")
                        }
                        throw error
                    }
                }
                return try body(connection, opened ?? [])
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
        let sessionKey = record.sealedSessionKey.map { PostgresBytes($0) }
        let identity: PostgresQuery =
            "SELECT user_id FROM identities WHERE appid = \(record.appid) AND openid = \(record.openid)"
        let signedIn = try await transaction(locks: locks, first: [identity]) { db, opened in
            // A returning identity (the common case) knows its user now: the rest is one round trip with COMMIT.
            var statements: [PostgresQuery] = []
            let userId: String
            if let existing = try opened[0].first?.decode(String.self, at: 0) {
                userId = existing
                statements = [
                    """
                    UPDATE identities SET session_key = \(sessionKey), updated_at = \(record.now)
                    WHERE appid = \(record.appid) AND openid = \(record.openid)
                    """,
                    Self.touchQuery(userId: existing, gaining: record.unionid, now: record.now),
                ]
            } else {
                userId = try self.createIdentity(db, record, sessionKey: sessionKey)
            }
            statements += [
                """
                INSERT INTO refresh_families (id, user_id, appid, openid, created_at)
                VALUES (\(record.familyId), \(userId), \(record.appid), \(record.openid), \(record.now))
                """,
                """
                INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at)
                VALUES (\(PostgresBytes(record.refreshTokenHash)), \(record.familyId), \(record.now), \(record.refreshExpiresAt))
                """,
                Self.expiredTokensQuery(now: record.now, limit: Self.opportunisticSweep),
                Self.userQuery(id: userId),
            ]
            let results = try Self.commit(db, statements)
            guard let row = results[results.count - 1].first else { throw StoreError("sign-in lost its user") }
            return (user: try Self.user(from: row, at: 0), sweptTokens: results[results.count - 2].rows)
        }
        if !signedIn.sweptTokens.isEmpty {
            // Families the sweep emptied, after the commit (rarely any): nothing of the sign-in waits on it, and a
            // failure only leaves them for the next sweep.
            do {
                try await statement { db in try Self.deleteEmptiedFamilies(db, of: signedIn.sweptTokens) }
            } catch {
                logger.warning(
                    "emptied refresh-token families left for the next sweep",
                    metadata: ["error": "\(error)"]
                )
            }
        }
        return signedIn.user
    }

    /// The user of an identity seen for the first time, after creating both. Two first sign-ins of one person on
    /// different instances are serialised by ``signIn(_:)``'s advisory locks; `ON CONFLICT` still makes a later
    /// one take the earlier one's user should they ever meet here, deleting the user it had just created for itself.
    private func createIdentity(
        _ db: PostgresConnection,
        _ record: SignInRecord,
        sessionKey: PostgresBytes?
    ) throws -> String {
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
        try Self.rows(db, Self.touchQuery(userId: owner, gaining: record.unionid, now: record.now))
        return owner
    }

    /// Marks the user updated, and gives it `unionid` when it has none and no other user has it (an app bound to
    /// the open platform after its users first signed in).
    static func touchQuery(userId: String, gaining unionid: String?, now: Int64) -> PostgresQuery {
        """
        UPDATE users SET updated_at = \(now),
          unionid = CASE WHEN unionid IS NULL AND NOT EXISTS (SELECT 1 FROM users o WHERE o.unionid = \(unionid))
                    THEN \(unionid) ELSE unionid END
        WHERE id = \(userId)
        """
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

    /// The user `id`, as ``user(from:at:)`` reads it.
    static func userQuery(id: String, locking: Bool = false) -> PostgresQuery {
        let sql = "SELECT \(userColumns) FROM users u WHERE u.id = $1" + (locking ? " FOR UPDATE" : "")
        return PostgresQuery(unsafeSQL: sql, parameters: [PostgresParameter(id)])
    }

    static func loadUser(_ db: PostgresConnection, id: String, locking: Bool = false) throws -> UserRecord? {
        guard let row = try rows(db, userQuery(id: id, locking: locking)).first else { return nil }
        return try user(from: row, at: 0)
    }

    /// A refresh-token family with its user, as ``session(from:familyId:)`` reads it.
    private static func sessionQuery(familyId: String) -> PostgresQuery {
        let sql = """
            SELECT f.appid, f.openid, f.revoked_at IS NOT NULL, \(userColumns)
            FROM refresh_families f JOIN users u ON u.id = f.user_id WHERE f.id = $1
            """
        return PostgresQuery(unsafeSQL: sql, parameters: [PostgresParameter(familyId)])
    }

    private static func session(from result: PostgresResult, familyId: String) throws -> SessionRecord? {
        guard let row = result.first else { return nil }
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
        // The one conditional update: only a live, unspent token of a live family is spent. A concurrent rotation
        // of the same token waits on the row lock, then re-checks `spent_at` and finds it set.
        let spend: PostgresQuery = """
            UPDATE refresh_tokens t SET spent_at = \(now)
            FROM refresh_families f
            WHERE t.hash = \(presented) AND t.spent_at IS NULL AND t.expires_at > \(now)
              AND f.id = t.family_id AND f.revoked_at IS NULL
            RETURNING t.family_id
            """
        return try await transaction(first: [spend]) { db, opened in
            if let familyId = try opened[0].first?.decode(String.self, at: 0) {
                let results = try Self.commit(
                    db,
                    [
                        """
                        INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at)
                        VALUES (\(PostgresBytes(newHash)), \(familyId), \(now), \(newExpiresAt))
                        """,
                        Self.sessionQuery(familyId: familyId),
                    ]
                )
                guard let session = try Self.session(from: results[1], familyId: familyId) else { return .unknown }
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
        try Self.session(from: try await read(Self.sessionQuery(familyId: familyId)), familyId: familyId)
    }

    public func familyId(forRefreshTokenHash hash: [UInt8]) async throws -> String? {
        try await read("SELECT family_id FROM refresh_tokens WHERE hash = \(PostgresBytes(hash))")
            .first?.decode(String.self, at: 0)
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
        let row = try await read("SELECT session_key FROM identities WHERE appid = \(appid) AND openid = \(openid)")
            .first
        return try row?.decode(PostgresBytes?.self, at: 0).map(\.bytes)
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
        let gone = try rows(db, expiredTokensQuery(now: now, limit: limit))
        guard !gone.isEmpty else { return SweepReport() }
        return SweepReport(refreshTokens: gone.count, families: try deleteEmptiedFamilies(db, of: gone))
    }

    /// Deletes up to `limit` refresh tokens expired past the grace period; returns their family ids.
    private static func expiredTokensQuery(now: Int64, limit: Int) -> PostgresQuery {
        """
        DELETE FROM refresh_tokens WHERE hash IN (
          SELECT hash FROM refresh_tokens WHERE expires_at < \(now - SweepReport.grace) LIMIT \(limit) FOR UPDATE SKIP LOCKED
        ) RETURNING family_id
        """
    }

    /// Deletes the families of `tokens` (rows of ``expiredTokensQuery(now:limit:)``) that have no token left;
    /// how many.
    private static func deleteEmptiedFamilies(_ db: PostgresConnection, of tokens: [PostgresRow]) throws -> Int {
        let families = Array(Set(try tokens.map { try $0.decode(String.self, at: 0) }))
        return try rows(
            db,
            """
            DELETE FROM refresh_families f WHERE f.id = ANY(\(families))
              AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = f.id)
            RETURNING f.id
            """
        ).count
    }
}
