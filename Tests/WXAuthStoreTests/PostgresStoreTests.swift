import Logging
import PostgresNIO
import PostgresTestSupport
import Testing
import WXAuthPostgres
import WXAuthStore

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
    static let migrationCount = 2

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
        #expect(try await PostgresTestDatabase.integer("SELECT count(*) FROM wxauth_schema_migrations", url: url) == Self.migrationCount)
        // A later cold start finds the schema current and changes nothing.
        let later = try Self.makeStores(1, onSchemaOf: url)[0]
        #expect(try await later.sweepExpired(now: 0, limit: 10) == SweepReport())
        #expect(try await PostgresTestDatabase.integer("SELECT count(*) FROM wxauth_schema_migrations", url: url) == Self.migrationCount)
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
                        StoreContractTests.signIn(appid: appid, openid: "o-\(appid)", unionid: unionid, family: "f\(index)", token: [UInt8(index)])
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
        #expect(try await PostgresTestDatabase.integer("SELECT count(*) FROM identities", url: url) == (unionid == nil ? 1 : 2))
        #expect(try await stores[0].updateProfile(userId: users[0].id, profile: UserProfile(), unionid: nil, now: 2000).unionid == unionid)
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
        // A 6 s function gives each statement 1.5 s; the server's lock timeout answers long before the client's
        // watchdog (3 s) would close the connection, even on a loaded machine.
        let store = PostgresStore(settings: try PostgresSettings(url: url), functionTimeout: .seconds(6), logger: Self.logger)
        _ = try await store.signIn(StoreContractTests.signIn(openid: "o1", family: "f1", token: [1]))
        let blocker = try await PostgresTestDatabase.connect(url: url)
        try await blocker.query("BEGIN", logger: PostgresTestDatabase.logger)
        try await blocker.query("SELECT 1 FROM refresh_tokens FOR UPDATE", logger: PostgresTestDatabase.logger)
        let started = ContinuousClock.now
        await #expect(throws: StoreError.self) {
            try await store.rotateRefreshToken(presentedHash: [1], newHash: [2], newExpiresAt: 3000, now: 1100)
        }
        #expect(ContinuousClock.now - started < .seconds(3))
        try await blocker.query("ROLLBACK", logger: PostgresTestDatabase.logger)
        try await blocker.close()
        #expect(StoreContractTests.winners([try await store.rotateRefreshToken(presentedHash: [1], newHash: [2], newExpiresAt: 3000, now: 1100)]) == 1)
        await store.close()
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
            if let password = settings.password, !password.isEmpty { #expect(!"\(error)".contains(password)) }
        }
    }
}

/// URL parsing needs no server.
@Suite struct PostgresSettingsTests {
    @Test func parsesTheLibpqURLForm() throws {
        let settings = try PostgresSettings(
            url: "postgres://wx%40auth:p%3Ass%2Fw@db.example.com:6432/wx_db?sslmode=verify-full&application_name=wxauth&options=-c%20search_path%3Dauth"
        )
        #expect(settings.username == "wx@auth" && settings.password == "p:ss/w")
        #expect(settings.host == "db.example.com" && settings.port == 6432 && settings.database == "wx_db")
        #expect(settings.sslMode == .verifyFull)
        #expect(settings.startupParameters.map { "\($0.0)=\($0.1)" } == ["application_name=wxauth", "search_path=auth"])
        #expect(!settings.description.contains("p:ss/w"))

        let plain = try PostgresSettings(url: "postgresql://u@[::1]/d")
        #expect(plain.host == "::1" && plain.port == 5432 && plain.password == nil && plain.sslMode == .disable)
    }

    @Test(arguments: [
        "postgres://u:hunter2@h/d?sslmode=sometimes", "postgres://u:hunter2@h:99999/d", "postgres://hunter2@h/d?frobnicate=1",
        "postgres://h/d", "postgres://u:hunter2%zz@h/d", "postgres://u:hunter2@h/d?options=hunter2",
    ])
    func malformedURLsAreRefusedWithoutTheirSecrets(url: String) {
        #expect {
            try PostgresSettings(url: url)
        } throws: { error in
            "\(error)".hasPrefix("WXAUTH_DATABASE_URL") && !"\(error)".contains("hunter2")
        }
    }
}
