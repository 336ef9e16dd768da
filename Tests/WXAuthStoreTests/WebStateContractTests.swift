import Testing
import WXAuthStore

/// The web sign-in part of the store contract, against every store.
@Suite struct WebStateContractTests {
    typealias Kind = StoreContractTests.Kind

    static func state(_ id: String, expiresAt: Int64 = 1600) -> WebStateRecord {
        WebStateRecord(id: id, appid: "wxweb", scope: "snsapi_login", returnTo: "/home", expiresAt: expiresAt)
    }

    @Test(arguments: Kind.available) func aStateIsBoundToTheFirstCodeOnly(kind: Kind) async throws {
        let store = try await StoreContractTests.makeStore(kind)
        try await store.createWebState(Self.state("s1"), now: 1000)
        #expect(try await store.claimWebState(id: "s1", codeHash: [1], now: 1001) == .claimed(Self.state("s1")))
        #expect(
            try await store.claimWebState(id: "s1", codeHash: [1], now: 1002)
                == .repeated(Self.state("s1"), sealedOutcome: nil)
        )
        #expect(try await store.claimWebState(id: "s1", codeHash: [2], now: 1002) == .replayed)
        try await store.completeWebState(id: "s1", sealedOutcome: [9, 9])
        #expect(
            try await store.claimWebState(id: "s1", codeHash: [1], now: 1003)
                == .repeated(Self.state("s1"), sealedOutcome: [9, 9])
        )
        try await store.releaseWebState(id: "s1")
        #expect(
            try await store.claimWebState(id: "s1", codeHash: [2], now: 1004) == .replayed,
            "a completed state stays bound to its code"
        )
    }

    @Test(arguments: Kind.available) func unknownExpiredAndReleasedStates(kind: Kind) async throws {
        let store = try await StoreContractTests.makeStore(kind)
        #expect(try await store.claimWebState(id: "nope", codeHash: [1], now: 1000) == .unknown)
        try await store.createWebState(Self.state("old", expiresAt: 1100), now: 1000)
        #expect(try await store.claimWebState(id: "old", codeHash: [1], now: 1101) == .unknown)
        try await store.createWebState(Self.state("s2"), now: 1000)
        #expect(try await store.claimWebState(id: "s2", codeHash: [1], now: 1001) == .claimed(Self.state("s2")))
        try await store.releaseWebState(id: "s2")
        #expect(try await store.claimWebState(id: "s2", codeHash: [3], now: 1002) == .claimed(Self.state("s2")))
    }

    @Test(arguments: Kind.available) func ofConcurrentClaimsWithDifferentCodesOneWins(kind: Kind) async throws {
        let store = try await StoreContractTests.makeStore(kind)
        try await store.createWebState(Self.state("race"), now: 1000)
        let outcomes = try await withThrowingTaskGroup(of: WebStateClaim.self) { group in
            for code in 0..<16 {
                group.addTask { try await store.claimWebState(id: "race", codeHash: [UInt8(code)], now: 1001) }
            }
            return try await group.reduce(into: [WebStateClaim]()) { $0.append($1) }
        }
        #expect(outcomes.filter { if case .claimed = $0 { true } else { false } }.count == 1)
        #expect(outcomes.filter { $0 == .replayed }.count == 15)
    }

    @Test(arguments: Kind.available) func webTokensBelongToAnIdentity(kind: Kind) async throws {
        let store = try await StoreContractTests.makeStore(kind)
        #expect(try await store.sealedWebTokens(appid: "wxweb", openid: "o1") == nil)
        _ = try await store.signIn(StoreContractTests.signIn(appid: "wxweb", openid: "o1", family: "f1", token: [1]))
        try await store.saveWebTokens(appid: "wxweb", openid: "o1", sealed: [7, 7])
        #expect(try await store.sealedWebTokens(appid: "wxweb", openid: "o1") == [7, 7])
        _ = try await store.signIn(StoreContractTests.signIn(appid: "wxweb", openid: "o1", family: "f2", token: [2]))
        #expect(try await store.sealedWebTokens(appid: "wxweb", openid: "o1") == [7, 7], "a later sign-in keeps them")
        #expect(try await store.sealedWebTokens(appid: "wxother", openid: "o1") == nil)
    }
}
