import BlockingSocket
import Glibc
import Logging
import PostgresTestSupport
import PostgresWire
import TestSupport
import Testing
import WXAuthStore

@testable import WXAuthPostgres

/// What only PostgreSQL has: many connections (one per instance) racing on one database, migrations racing at
/// cold start, reconnection. The shared behaviour is in ``StoreContractTests``, which runs against PostgreSQL too.
@Suite(.enabled(if: PostgresTestDatabase.url != nil, Comment(rawValue: PostgresTestDatabase.skipReason)))
struct PostgresStoreTests {
    static let logger = Logger(label: "postgres-store-test") { _ in SwiftLogNoOpLogHandler() }

    /// A store on a fresh schema of the test server.
    static func makeStore() async throws -> PostgresStore {
        try await makeStores(1, onSchemaOf: PostgresTestDatabase.freshSchemaURL())[0]
    }

    /// `count` stores, each with its own connection, as `count` function instances would have.
    static func makeStores(_ count: Int, onSchemaOf url: String) throws -> [PostgresStore] {
        let settings = try PostgresSettings(url: url)
        return (0..<count).map { _ in PostgresStore(settings: settings, functionTimeout: .seconds(30), logger: logger) }
    }

    /// The migrations the schema has today: each racing cold start must apply every one exactly once.
    static let migrationCount = 3

    @Test func migratorsRacingAtColdStartMigrateOnce() async throws {
        let url = try await PostgresTestDatabase.freshSchemaURL()
        let stores = try Self.makeStores(8, onSchemaOf: url)
        // Every store's first operation migrates; all run at once on separate connections.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores {
                group.addTask { _ = try await store.appToken(appid: "wx") }
            }
            try await group.waitForAll()
        }
        #expect(
            try await PostgresTestDatabase.integer("SELECT count(*) FROM wxauth_schema_migrations", url: url)
                == Self.migrationCount
        )
        // A later cold start finds the schema current and changes nothing.
        let later = try Self.makeStores(1, onSchemaOf: url)[0]
        #expect(try await later.sweepExpired(now: 0, limit: 10) == SweepReport())
        #expect(
            try await PostgresTestDatabase.integer("SELECT count(*) FROM wxauth_schema_migrations", url: url)
                == Self.migrationCount
        )
        await later.close()
        for store in stores { await store.close() }
    }

    @Test func concurrentRefreshesOnManyConnectionsHaveExactlyOneWinner() async throws {
        let stores = try Self.makeStores(12, onSchemaOf: await PostgresTestDatabase.freshSchemaURL())
        _ = try await stores[0].signIn(StoreContractTests.signIn(openid: "o1", family: "f1", token: [1]))
        let outcomes = try await StoreContractTests.rotateAtOnce(stores)
        #expect(StoreContractTests.winners(outcomes) == 1)
        #expect(outcomes.filter { $0 == .reused || $0 == .revoked }.count == stores.count - 1)
        for store in stores { await store.close() }
    }

    @Test(arguments: [nil, "uRace"]) func concurrentFirstSignInsOfOnePersonMakeOneUser(unionid: String?) async throws {
        let url = try await PostgresTestDatabase.freshSchemaURL()
        let stores = try Self.makeStores(12, onSchemaOf: url)
        let users = try await withThrowingTaskGroup(of: UserRecord.self) { group in
            for (index, store) in stores.enumerated() {
                // With a unionid, half sign in through a second app: still one person, one user.
                let appid = unionid != nil && index.isMultiple(of: 2) ? "wxother" : "wxapp"
                group.addTask {
                    try await store.signIn(
                        StoreContractTests.signIn(
                            appid: appid,
                            openid: "o-\(appid)",
                            unionid: unionid,
                            family: "f\(index)",
                            token: [UInt8(index)]
                        )
                    )
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(users.map(\.id)).count == 1)
        // Every family belongs to the surviving user, and the losers' would-be users left nothing behind.
        for index in stores.indices {
            #expect(try await stores[0].session(familyId: "f\(index)")?.user.id == users[0].id)
        }
        #expect(try await PostgresTestDatabase.integer("SELECT count(*) FROM users", url: url) == 1)
        #expect(
            try await PostgresTestDatabase.integer("SELECT count(*) FROM identities", url: url)
                == (unionid == nil ? 1 : 2)
        )
        #expect(
            try await stores[0].updateProfile(userId: users[0].id, profile: UserProfile(), unionid: nil, now: 2000)
                .unionid == unionid
        )
        for store in stores { await store.close() }
    }

    @Test func aClosedConnectionIsReopened() async throws {
        let store = try await Self.makeStore()
        _ = try await store.signIn(StoreContractTests.signIn(openid: "o1", family: "f1", token: [1]))
        await store.close()
        #expect(try await store.session(familyId: "f1")?.openid == "o1")
    }

    @Test func aLockedRowFailsInsideTheTimeoutAndTheStoreRecovers() async throws {
        let url = try await PostgresTestDatabase.freshSchemaURL()
        try await Self.signInO1(onSchemaOf: url)
        // A 6 s function gives each statement 1.5 s; the server's lock timeout answers before the client's
        // watchdog (3 s) would close the connection, unless the machine is very loaded (then the watchdog does).
        let store = PostgresStore(
            settings: try PostgresSettings(url: url),
            functionTimeout: .seconds(6),
            logger: Self.logger
        )
        let blocker = try await Self.lockTheRefreshTokens(onSchemaOf: url)
        // 30 s only tells a hang from a slow machine.
        let outcome = await Self.outcome(within: .seconds(30), of: { try await Self.rotate(store) })
        #expect(throws: StoreError.self) { try #require(outcome).get() }
        try await blocker.query("ROLLBACK")
        blocker.close()
        #expect(await Self.recovered(store))
        await store.close()
    }

    /// The client's watchdog firing in the middle of a transaction (the lock timeout far later), or just as the
    /// server's lock timeout answers (equal, or the server a little first): each time the caller gets a
    /// `StoreError` instead of hanging, no abandoned operation keeps the next one from its turn, and once the row
    /// is free the store works again on a new connection.
    @Test(arguments: zip([30_000, 300, 250], [300, 300, 300]))
    func theWatchdogFiringMidTransactionNeverHangsTheCaller(
        lockMilliseconds: Int,
        watchdogMilliseconds: Int
    ) async throws {
        let url = try await PostgresTestDatabase.freshSchemaURL()
        try await Self.signInO1(onSchemaOf: url)
        let timeouts = PostgresTimeouts(
            connect: .seconds(10),
            statement: .milliseconds(lockMilliseconds),
            watchdog: .milliseconds(watchdogMilliseconds)
        )
        let store = PostgresStore(settings: try PostgresSettings(url: url), timeouts: timeouts, logger: Self.logger)
        let blocker = try await Self.lockTheRefreshTokens(onSchemaOf: url)
        for attempt in 1...8 {
            // 30 s only tells a hang from a slow machine.
            guard let outcome = await Self.outcome(within: .seconds(30), of: { try await Self.rotate(store) }) else {
                Issue.record("attempt \(attempt): the caller did not return")
                break
            }
            #expect(throws: StoreError.self, "attempt \(attempt)") { try outcome.get() }
        }
        try await blocker.query("ROLLBACK")
        blocker.close()
        #expect(await Self.recovered(store))
        await store.close()
    }

    /// Signs in "o1" with refresh token [1] on a store of the schema, migrating it.
    static func signInO1(onSchemaOf url: String) async throws {
        let setup = try makeStores(1, onSchemaOf: url)[0]
        _ = try await setup.signIn(StoreContractTests.signIn(openid: "o1", family: "f1", token: [1]))
        await setup.close()
    }

    /// A connection in a transaction that holds every refresh token's row lock until it rolls back.
    static func lockTheRefreshTokens(onSchemaOf url: String) async throws -> PostgresTestConnection {
        let blocker = try await PostgresTestDatabase.connect(url: url)
        try await blocker.query("BEGIN")
        try await blocker.query("SELECT 1 FROM refresh_tokens FOR UPDATE")
        return blocker
    }

    /// Rotates "o1"'s refresh token [1].
    @Sendable static func rotate(_ store: PostgresStore) async throws -> RotationOutcome {
        try await store.rotateRefreshToken(presentedHash: [1], newHash: [2], newExpiresAt: 3000, now: 1100)
    }

    /// Whether the store answers again within a minute (a read: a timed-out attempt may still have committed a
    /// rotation). Short watchdogs on a loaded machine may need more than one try; a store whose turns are stuck,
    /// or that never reconnects, never answers.
    static func recovered(_ store: PostgresStore) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            guard let outcome = await outcome(within: .seconds(30), of: { try await store.session(familyId: "f1") })
            else {
                return false
            }
            if case .success(let session) = outcome { return session?.openid == "o1" }
        }
        return false
    }

    /// A connection that has failed or closed refuses further statements at once, and the store's next turn
    /// opens a new one instead of using it.
    @Test func aClosedConnectionRefusesStatements() async throws {
        let settings = try PostgresSettings(url: try #require(PostgresTestDatabase.url))
        let worker = WorkerThread()
        defer { worker.stop() }
        let refused = try await worker.run {
            let connection = try PostgresConnection(
                settings.connectionOptions,
                deadline: ContinuousClock.now + .seconds(10)
            )
            _ = try connection.query("SELECT 1")
            connection.close()
            return connection.isClosed && (try? connection.query("SELECT 1")) == nil
        }
        #expect(refused)
    }

    /// `body`'s outcome, or nil when it has not returned within `limit` (a hang: it is left running).
    static func outcome<T: Sendable>(
        within limit: Duration,
        of body: @escaping @Sendable () async throws -> T
    ) async -> Result<T, any Error>? {
        let (outcomes, race) = AsyncStream.makeStream(of: Result<T, any Error>?.self)
        Task {
            do {
                race.yield(.success(try await body()))
            } catch {
                race.yield(.failure(error))
            }
        }
        let timer = Task {
            try await Task.sleep(for: limit)
            race.yield(nil)
        }
        defer { timer.cancel() }
        for await first in outcomes { return first }
        return nil
    }

    /// The store over verify-full TLS (the cluster's own root as sslrootcert), signing in with SCRAM-SHA-256.
    @Test(
        .enabled(
            if: PostgresTestDatabase.tlsURL != nil,
            "WXAUTH_TEST_POSTGRES_TLS_URL is not set (.ci/postgres-cluster tls-url)"
        )
    )
    func worksOverVerifiedTLSWithSCRAM() async throws {
        let tlsURL = try #require(PostgresTestDatabase.tlsURL)
        let schemaURL = try await PostgresTestDatabase.freshSchemaURL()
        let options = try #require(schemaURL.firstRange(of: "options=")).lowerBound
        let url = tlsURL + (tlsURL.contains("?") ? "&" : "?") + schemaURL[options...]
        let store = PostgresStore(
            settings: try PostgresSettings(url: url),
            functionTimeout: .seconds(30),
            logger: Self.logger
        )
        _ = try await store.signIn(StoreContractTests.signIn(openid: "o1", family: "f1", token: [1]))
        #expect(try await store.session(familyId: "f1")?.openid == "o1")
        await store.close()

        // The session really is encrypted, and signed in as the SCRAM user.
        let connection = try await PostgresTestDatabase.connect(url: url)
        defer { connection.close() }
        let row = try #require(
            try await connection.query("SELECT ssl, current_user::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .first
        )
        #expect(try row.decode(Bool.self, at: 0))
        #expect(try row.decode(String.self, at: 1) == "wxauth_scram")

        // A wrong password is refused by the server, and the error names the setting, never the password.
        let settings = try PostgresSettings(url: url)
        var wrong = settings
        wrong.password = "not-the-password"
        let refused = PostgresStore(settings: wrong, functionTimeout: .seconds(10), logger: Self.logger)
        let error = await #expect(throws: StoreError.self) { _ = try await refused.appToken(appid: "wx") }
        #expect(error?.description.contains("WXAUTH_DATABASE_URL") == true)
        #expect(error?.description.contains("not-the-password") == false)
        #expect(error?.description.contains(settings.password ?? "-") == false)
    }

    @Test func requiringTLSFromAServerWithoutItFailsWithoutNamingThePassword() async throws {
        let url = try #require(PostgresTestDatabase.url)
        let settings = try PostgresSettings(url: url + (url.contains("?") ? "&" : "?") + "sslmode=require")
        let store = PostgresStore(settings: settings, functionTimeout: .seconds(6), logger: Self.logger)
        do {
            _ = try await store.appToken(appid: "wx")
            // The CI cluster has no TLS; a server that has it may accept, which is fine too.
        } catch {
            #expect("\(error)".contains("WXAUTH_DATABASE_URL"))
            assertNoSecrets([settings.password ?? ""], in: "\(error)")
        }
    }
}

/// URL parsing needs no server.
@Suite struct PostgresSettingsTests {
    @Test func parsesTheLibpqURLForm() throws {
        let settings = try PostgresSettings(
            url:
                "postgres://wx%40auth:p%3Ass%2Fw@db.example.com:6432/wx_db?sslmode=verify-full&application_name=wxauth&options=-c%20search_path%3Dauth"
        )
        #expect(settings.username == "wx@auth" && settings.password == "p:ss/w")
        #expect(settings.host == "db.example.com" && settings.port == 6432 && settings.database == "wx_db")
        #expect(settings.sslMode == .verifyFull)
        #expect(
            settings.startupParameters.map { "\($0.0)=\($0.1)" } == ["application_name=wxauth", "search_path=auth"]
        )
        #expect(!settings.description.contains("p:ss/w"))

        #expect(settings.rootCertificates == nil)
        let pinned = try PostgresSettings(url: "postgres://u@h/d?sslmode=verify-ca&sslrootcert=%2Fetc%2Fwx%2Froot.pem")
        #expect(pinned.rootCertificates == "/etc/wx/root.pem" && pinned.sslMode == .verifyCA)

        let plain = try PostgresSettings(url: "postgresql://u@[::1]/d")
        #expect(plain.host == "::1" && plain.port == 5432 && plain.password == nil && plain.sslMode == .disable)
    }

    @Test(arguments: [
        "postgres://u:hunter2@h/d?sslmode=sometimes", "postgres://u:hunter2@h:99999/d",
        "postgres://hunter2@h/d?frobnicate=1",
        "postgres://h/d", "postgres://u:hunter2%zz@h/d", "postgres://u:hunter2@h/d?options=hunter2",
        "postgres://u:hunter2@h/d?sslrootcert=",
    ])
    func malformedURLsAreRefusedWithoutTheirSecrets(url: String) {
        #expect {
            try PostgresSettings(url: url)
        } throws: { error in
            "\(error)".hasPrefix("WXAUTH_DATABASE_URL") && !"\(error)".contains("hunter2")
        }
    }
}

/// A server that completes the TCP handshake and then never says a word (a stuck pooler, a half-dead host):
/// connecting must still end within the store's connect limit (postgres-nio applies its connect timeout to the
/// whole start-up exchange, not just the TCP connect). Needs no PostgreSQL.
@Suite struct PostgresSilentServerTests {
    @Test func connectingToASilentServerFailsWithinTheConnectLimit() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let settings = try PostgresSettings(url: "postgres://wxauth:pw@127.0.0.1:\(listener.port)/wxauth")
        let timeouts = PostgresTimeouts(connect: .milliseconds(300), statement: .seconds(1), watchdog: .seconds(2))
        let store = PostgresStore(settings: settings, timeouts: timeouts, logger: PostgresStoreTests.logger)
        let started = ContinuousClock.now
        let error = await #expect(throws: StoreError.self) { _ = try await store.appToken(appid: "wx") }
        #expect(error?.description.contains("WXAUTH_DATABASE_URL") == true)
        #expect(error?.description.contains("pw") == false)
        // A hang detector, not a timing assertion: without the limit this never returns.
        #expect(ContinuousClock.now - started < .seconds(20))
        await store.close()
    }
}

/// A loopback TCP socket that listens and never accepts: the kernel completes handshakes into its backlog.
private struct SilentListener {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        try #require(descriptor >= 0 && bound == 0 && listen(descriptor, 8) == 0)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        try #require(named == 0)
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(descriptor) }
}
