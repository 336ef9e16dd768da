import Testing
import WXAuthStore

/// The circuit breaker's shared state (CONTRACT §8), on every store, and the rules it changes by.
@Suite struct CircuitStoreTests {
    typealias Kind = StoreContractTests.Kind
    let policy = CircuitPolicy()

    @Test func fiveFailuresWithinTheWindowOpenTheCircuit() {
        var state: CircuitState? = nil
        for second in Int64(0)..<4 {
            state = policy.afterFailure(state, now: 100 + second)
            #expect(state?.openUntil == 0)
        }
        state = policy.afterFailure(state, now: 129)
        #expect(state == CircuitState(openUntil: 159))
    }

    @Test func failuresSpreadBeyondTheWindowStartCountingAgain() {
        var state: CircuitState? = nil
        for second in Int64(0)..<4 { state = policy.afterFailure(state, now: 100 + second) }
        state = policy.afterFailure(state, now: 131)
        #expect(state == CircuitState(failures: 1, windowStart: 131))
    }

    @Test func oneProbeAtATimeAfterTheOpenPeriodAndAFailedProbeReopens() {
        let open = CircuitState(openUntil: 159)
        #expect(policy.claimingProbe(open, now: 158) == nil)
        let probing = policy.claimingProbe(open, now: 159)
        #expect(probing == CircuitState(openUntil: 159, probeUntil: 169))
        #expect(policy.claimingProbe(probing, now: 160) == nil)
        // A probe that never reported back gives the lease up after probeLease.
        #expect(policy.claimingProbe(probing, now: 169) != nil)
        #expect(policy.afterFailure(probing, now: 161) == CircuitState(openUntil: 191))
        #expect(policy.claimingProbe(nil, now: 1) == nil)
    }

    @Test func timesNeverOverflow() {
        #expect(policy.afterFailure(CircuitState(openUntil: 1), now: .max).openUntil == .max)
        #expect(policy.claimingProbe(CircuitState(openUntil: 1), now: .max)?.probeUntil == .max)
    }

    @Test(arguments: Kind.available) func storesKeepUpdateAndDeleteCircuits(kind: Kind) async throws {
        let store = try await StoreContractTests.makeStore(kind)
        #expect(try await store.circuit(name: "wechat") == nil)
        let policy = self.policy
        for second in Int64(0)..<5 {
            _ = try await store.updateCircuit(name: "wechat") { policy.afterFailure($0, now: 1000 + second) }
        }
        #expect(try await store.circuit(name: "wechat") == CircuitState(openUntil: 1034))
        #expect(try await store.circuit(name: "other") == nil)
        let claimed = try await store.updateCircuit(name: "wechat") { policy.claimingProbe($0, now: 1034) ?? $0 }
        #expect(claimed?.probeUntil == 1044)
        #expect(try await store.updateCircuit(name: "wechat") { _ in nil } == nil)
        #expect(try await store.circuit(name: "wechat") == nil)
    }

    @Test(arguments: Kind.available) func concurrentFailuresAreAllCounted(kind: Kind) async throws {
        let store = try await StoreContractTests.makeStore(kind)
        let counting = CircuitPolicy(threshold: 1000)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    _ = try await store.updateCircuit(name: "wechat") { counting.afterFailure($0, now: 5) }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await store.circuit(name: "wechat")?.failures == 8)
    }
}
