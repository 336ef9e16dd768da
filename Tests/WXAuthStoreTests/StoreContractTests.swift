import Foundation
import PostgresTestSupport
import Testing
import WXAuthStore

/// One suite, run against every Store implementation: they must behave the same.
@Suite struct StoreContractTests {
    enum Kind: String, CaseIterable, CustomStringConvertible {
        case memory, sqlite, postgres
        var description: String { rawValue }

        /// Every kind this run can test: PostgreSQL only with `WXAUTH_TEST_POSTGRES_URL` (see PostgresStoreTests).
        static var available: [Kind] { PostgresTestDatabase.url == nil ? [.memory, .sqlite] : allCases }
    }

    static func makeStore(_ kind: Kind) async throws -> any Store {
        switch kind {
        case .memory: MemoryStore()
        case .sqlite: try SQLiteStore(path: TemporaryDirectory.make() + "/db/wxauth.sqlite")
        case .postgres: try await PostgresStoreTests.makeStore()
        }
    }

    static func signIn(
        appid: String = "wxapp",
        openid: String,
        unionid: String? = nil,
        family: String,
        token: [UInt8],
        expires: Int64 = 2000,
        now: Int64 = 1000
    ) -> SignInRecord {
        SignInRecord(
            appid: appid,
            openid: openid,
            unionid: unionid,
            sealedSessionKey: [1, 2, 3],
            newUserId: "u-" + family,
            familyId: family,
            refreshTokenHash: token,
            refreshExpiresAt: expires,
            now: now
        )
    }

    @Test(arguments: Kind.available) func signInCreatesAndReusesUsers(kind: Kind) async throws {
        let store = try await Self.makeStore(kind)
        let first = try await store.signIn(Self.signIn(openid: "o1", family: "f1", token: [1]))
        #expect(first.id == "u-f1")
        let again = try await store.signIn(Self.signIn(openid: "o1", family: "f2", token: [2], now: 1500))
        #expect(again.id == first.id)
        #expect(again.updatedAt == 1500)
        let other = try await store.signIn(Self.signIn(openid: "o2", family: "f3", token: [3]))
        #expect(other.id != first.id)
        #expect(try await store.sealedSessionKey(appid: "wxapp", openid: "o1") == [1, 2, 3])
        let session = try #require(try await store.session(familyId: "f2"))
        #expect(session.openid == "o1" && session.appid == "wxapp" && !session.revoked && session.user.id == first.id)
    }

    @Test(arguments: Kind.available) func unionidLinksIdentitiesAcrossApps(kind: Kind) async throws {
        let store = try await Self.makeStore(kind)
        let mini = try await store.signIn(
            Self.signIn(appid: "wxmini", openid: "oA", unionid: "uX", family: "f1", token: [1])
        )
        let web = try await store.signIn(
            Self.signIn(appid: "wxweb", openid: "oB", unionid: "uX", family: "f2", token: [2])
        )
        #expect(web.id == mini.id)
        #expect(web.unionid == "uX")
        let later = try await store.signIn(Self.signIn(appid: "wxmini", openid: "oC", family: "f3", token: [3]))
        let gained = try await store.signIn(
            Self.signIn(appid: "wxmini", openid: "oC", unionid: "uY", family: "f4", token: [4])
        )
        #expect(gained.id == later.id)
        #expect(gained.unionid == "uY")
    }

    @Test(arguments: Kind.available) func rotationSpendsOnceAndReuseRevokesTheFamily(kind: Kind) async throws {
        let store = try await Self.makeStore(kind)
        _ = try await store.signIn(Self.signIn(openid: "o1", family: "f1", token: [1]))
        let first = try await store.rotateRefreshToken(presentedHash: [1], newHash: [2], newExpiresAt: 3000, now: 1100)
        guard case .rotated(let session) = first else {
            Issue.record("expected rotation, got \(first)")
            return
        }
        #expect(session.familyId == "f1")
        #expect(try await store.familyId(forRefreshTokenHash: [2]) == "f1")
        #expect(
            try await store.rotateRefreshToken(presentedHash: [1], newHash: [3], newExpiresAt: 3000, now: 1200)
                == .reused
        )
        #expect(try await store.session(familyId: "f1")?.revoked == true)
        #expect(
            try await store.rotateRefreshToken(presentedHash: [2], newHash: [4], newExpiresAt: 3000, now: 1300)
                == .revoked
        )
        #expect(
            try await store.rotateRefreshToken(presentedHash: [9], newHash: [5], newExpiresAt: 3000, now: 1300)
                == .unknown
        )
    }

    @Test(arguments: Kind.available) func expiredAndRevokedTokensAreRefused(kind: Kind) async throws {
        let store = try await Self.makeStore(kind)
        _ = try await store.signIn(Self.signIn(openid: "o1", family: "f1", token: [1], expires: 1500))
        #expect(
            try await store.rotateRefreshToken(presentedHash: [1], newHash: [2], newExpiresAt: 3000, now: 1500)
                == .expired
        )
        _ = try await store.signIn(Self.signIn(openid: "o1", family: "f2", token: [3]))
        try await store.revokeFamily(id: "f2", now: 1100)
        #expect(try await store.session(familyId: "f2")?.revoked == true)
        #expect(
            try await store.rotateRefreshToken(presentedHash: [3], newHash: [4], newExpiresAt: 3000, now: 1200)
                == .revoked
        )
        #expect(try await store.session(familyId: "nope") == nil)
    }

    /// Presents refresh token `[1]` through every store at once (a store may appear many times); the outcomes.
    static func rotateAtOnce(_ stores: [any Store]) async throws -> [RotationOutcome] {
        try await withThrowingTaskGroup(of: RotationOutcome.self) { group in
            for (index, store) in stores.enumerated() {
                group.addTask {
                    try await store.rotateRefreshToken(
                        presentedHash: [1],
                        newHash: [UInt8(100 + index)],
                        newExpiresAt: 3000,
                        now: 1100
                    )
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    static func winners(_ outcomes: [RotationOutcome]) -> Int {
        outcomes.filter { if case .rotated = $0 { true } else { false } }.count
    }

    @Test(arguments: Kind.available) func concurrentRotationsHaveExactlyOneWinner(kind: Kind) async throws {
        let store = try await Self.makeStore(kind)
        _ = try await store.signIn(Self.signIn(openid: "o1", family: "f1", token: [1]))
        #expect(Self.winners(try await Self.rotateAtOnce(Array(repeating: store, count: 16))) == 1)
    }

    @Test(arguments: Kind.available) func appTokenLeaseHasOneHolderAtATime(kind: Kind) async throws {
        let store = try await Self.makeStore(kind)
        #expect(try await store.appToken(appid: "wx") == nil)
        #expect(try await store.acquireAppTokenLease(appid: "wx", holder: "a", until: 1015, now: 1000))
        #expect(try await !store.acquireAppTokenLease(appid: "wx", holder: "b", until: 1020, now: 1005))
        #expect(try await store.acquireAppTokenLease(appid: "other", holder: "b", until: 1020, now: 1005))
        try await store.saveAppToken(appid: "wx", token: CachedAppToken(sealedToken: [7], expiresAt: 8200))
        #expect(try await store.appToken(appid: "wx") == CachedAppToken(sealedToken: [7], expiresAt: 8200))
        try await store.releaseAppTokenLease(appid: "wx", holder: "a")
        #expect(try await store.acquireAppTokenLease(appid: "wx", holder: "b", until: 1030, now: 1010))
        #expect(try await store.acquireAppTokenLease(appid: "wx", holder: "c", until: 1050, now: 1031))
        #expect(try await store.appToken(appid: "wx")?.sealedToken == [7])
    }

    @Test(arguments: Kind.available) func profilesMergeAndGainUnionid(kind: Kind) async throws {
        let store = try await Self.makeStore(kind)
        let user = try await store.signIn(Self.signIn(openid: "o1", family: "f1", token: [1]))
        let first = try await store.updateProfile(
            userId: user.id,
            profile: UserProfile(nickname: "Band", gender: 1),
            unionid: "uZ",
            now: 1100
        )
        #expect(first.profile.nickname == "Band" && first.profile.gender == 1 && first.unionid == "uZ")
        let second = try await store.updateProfile(
            userId: user.id,
            profile: UserProfile(phoneNumber: "13800138000", phoneCountryCode: "86"),
            unionid: nil,
            now: 1200
        )
        #expect(
            second.profile.nickname == "Band" && second.profile.phoneNumber == "13800138000" && second.updatedAt == 1200
        )
        #expect(try await store.session(familyId: "f1")?.user.profile == second.profile)
    }

    @Test(arguments: Kind.available) func sweepsDeleteLongExpiredTokensAndEmptiedFamilies(kind: Kind) async throws {
        let store = try await Self.makeStore(kind)
        for index in 0..<5 {
            _ = try await store.signIn(
                Self.signIn(openid: "o\(index)", family: "old\(index)", token: [UInt8(index)], expires: 1500)
            )
        }
        _ = try await store.signIn(Self.signIn(openid: "o1", family: "live", token: [50], expires: 900_000))
        let now: Int64 = 1500 + SweepReport.grace + 1
        #expect(try await store.sweepExpired(now: now, limit: 3) == SweepReport(refreshTokens: 3, families: 3))
        #expect(try await store.sweepExpired(now: now, limit: 3) == SweepReport(refreshTokens: 2, families: 2))
        #expect(try await store.sweepExpired(now: now, limit: 3) == SweepReport())
        #expect(try await store.session(familyId: "old0") == nil)
        #expect(try await store.session(familyId: "live") != nil)
        #expect(try await store.familyId(forRefreshTokenHash: [50]) == "live")
        // A sign-in sweeps as it goes: the expired token of a family signed in long ago disappears without a sweep.
        _ = try await store.signIn(Self.signIn(openid: "o9", family: "stale", token: [60], expires: 1600))
        _ = try await store.signIn(
            Self.signIn(openid: "o9", family: "fresh", token: [61], expires: 900_000, now: now + 200)
        )
        #expect(try await store.familyId(forRefreshTokenHash: [60]) == nil)
        #expect(try await store.session(familyId: "stale") == nil, "the family the sweep emptied is gone too")
        #expect(
            try await store.rotateRefreshToken(presentedHash: [60], newHash: [62], newExpiresAt: 3000, now: now + 300)
                == .unknown
        )
    }

    @Test func sqliteConnectionsOnOneFileAgree() async throws {
        let path = TemporaryDirectory.make() + "/shared.sqlite"
        let stores = try (0..<6).map { _ in try SQLiteStore(path: path) }
        _ = try await stores[0].signIn(Self.signIn(openid: "o1", family: "f1", token: [1]))
        #expect(Self.winners(try await Self.rotateAtOnce(stores)) == 1)
        // Reopening runs the migration check again without harm.
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.session(familyId: "f1") != nil)
    }

    @Test func parsesDatabaseURLs() {
        #expect(DatabaseURL("sqlite:.wxauth/wxauth.sqlite") == .sqlite(path: ".wxauth/wxauth.sqlite"))
        #expect(DatabaseURL("sqlite:///tmp/x.db") == .sqlite(path: "/tmp/x.db"))
        #expect(DatabaseURL("postgres://u:p@h:5432/d") == .postgres(url: "postgres://u:p@h:5432/d"))
        #expect(DatabaseURL("mysql://x") == nil)
        #expect(DatabaseURL("sqlite:") == nil)
    }
}

enum TemporaryDirectory {
    static func make() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wxauth-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
