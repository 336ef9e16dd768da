import FunctionRuntime
import Logging
import Synchronization
import WXAuthStore
import WeChat

/// CONTRACT §8's circuit breaker on WeChat and the invocation's WeChat metrics, as the WeChat client's
/// observer. The breaker's state lives in the store, so every instance of a fleet stops calling a failing
/// WeChat together and a cold instance does not start closed.
///
/// A store that cannot be read or written leaves calls allowed: the breaker protects WeChat, and must not
/// turn a store hiccup into refused sign-ins.
final class WeChatGuard: WeChatCallObserver {
    /// The circuit's name in the store: one for WeChat's whole API, which fails as one.
    static let circuitName = "wechat"

    /// Where the store and the clock come from: the flow has built the services by the time WeChat is called.
    private let provider: ServiceProvider
    private let policy: CircuitPolicy
    private let metrics: InvocationMetrics?
    private let logger: Logger
    /// The circuit as this invocation last saw it, so a success writes only when there is something to clear.
    private let seen = Mutex<CircuitState?>(nil)

    init(
        provider: ServiceProvider,
        policy: CircuitPolicy = CircuitPolicy(),
        metrics: InvocationMetrics? = InvocationMetrics.current,
        logger: Logger
    ) {
        self.provider = provider
        self.policy = policy
        self.metrics = metrics
        self.logger = logger
    }

    func holdBack(endpoint: String) async -> Duration? {
        guard let services = try? await provider.services(logger: logger) else { return nil }
        let (store, now) = (services.store, services.clock.nowSeconds)
        let state: CircuitState?
        do {
            state = try await store.circuit(name: Self.circuitName)
        } catch {
            logger.warning("circuit state unreadable; calling WeChat", metadata: ["error": "\(error)"])
            return nil
        }
        seen.withLock { $0 = state }
        guard let state, state.openUntil != 0 else { return nil }
        if now < state.openUntil { return refuse(until: state.openUntil, now: now, endpoint: endpoint) }
        // Open period over: one caller probes; the others wait for its verdict.
        let policy = self.policy
        // Whether the update's last run (the one that committed) took the lease.
        let probing = Flag()
        do {
            let current = try await store.updateCircuit(name: Self.circuitName) { current in
                let claimed = policy.claimingProbe(current, now: now)
                probing.value.withLock { $0 = claimed != nil }
                return claimed ?? current
            }
            seen.withLock { $0 = current }
            if probing.value.withLock({ $0 }) {
                logger.notice("circuit half-open: probing WeChat", metadata: ["endpoint": "\(endpoint)"])
                return nil
            }
            return refuse(
                until: max(current?.probeUntil ?? now, current?.openUntil ?? now),
                now: now,
                endpoint: endpoint
            )
        } catch {
            logger.warning("circuit state unwritable; calling WeChat", metadata: ["error": "\(error)"])
            return nil
        }
    }

    func attempted(endpoint: String, latency: Duration, outcome: WeChatCallOutcome) async {
        let (seconds, attoseconds) = latency.components
        metrics?.add("WeChatCalls")
        metrics?.add("WeChatLatency", Double(seconds) * 1000 + Double(attoseconds) / 1e15, unit: .milliseconds)
        if outcome != .answered { metrics?.add("WeChatErrors") }
        guard let services = try? await provider.services(logger: logger) else { return }
        let (store, now, policy) = (services.store, services.clock.nowSeconds, self.policy)
        do {
            switch outcome {
            case .failed:
                let next = try await store.updateCircuit(name: Self.circuitName) { policy.afterFailure($0, now: now) }
                seen.withLock { $0 = next }
                if let next, next.openUntil > now {
                    metrics?.add("CircuitOpen")
                    logger.error(
                        "WeChat keeps failing: circuit opened",
                        metadata: ["endpoint": "\(endpoint)", "seconds": "\(policy.openFor)"]
                    )
                }
            case .answered, .refused:
                // WeChat is up: clear what earlier failures left, if anything.
                guard !(seen.withLock { $0 }?.isClean ?? true) else { return }
                _ = try await store.updateCircuit(name: Self.circuitName) { _ in nil }
                seen.withLock { $0 = nil }
            }
        } catch {
            logger.warning("circuit state unwritable", metadata: ["error": "\(error)"])
        }
    }

    private func refuse(until: Int64, now: Int64, endpoint: String) -> Duration {
        metrics?.add("CircuitOpen")
        logger.warning("circuit open: WeChat not called", metadata: ["endpoint": "\(endpoint)"])
        return .seconds(max(1, until - now))
    }
}

/// A boolean an escaping closure can set (a `Mutex` itself cannot be captured).
private final class Flag: Sendable {
    let value = Mutex(false)
}
