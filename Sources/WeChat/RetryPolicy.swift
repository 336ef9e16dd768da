/// Time as the WeChat client sees it; injected so retries are tested without sleeping.
public protocol WeChatClock: Sendable {
    var now: ContinuousClock.Instant { get }
    func sleep(for duration: Duration) async throws
}

/// The real clock.
public struct SystemWeChatClock: WeChatClock {
    public init() {}
    public var now: ContinuousClock.Instant { .now }
    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }
}

/// Exponential backoff with full jitter, bounded by attempts and by the caller's deadline.
///
/// The delay before retry n (n = 1, 2, …) is a random duration in `0 ... min(maxDelay, baseDelay · 2ⁿ⁻¹)`.
/// A retry is made only if, after its delay, at least `minimumAttemptTime` is left before the deadline.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// The longest one attempt may take (it is also cut at the deadline).
    public var attemptTimeout: Duration
    /// No attempt is started with less time than this left.
    public var minimumAttemptTime: Duration
    /// Picks the jittered delay from its upper bound; replaced in tests for determinism.
    public var jitter: @Sendable (Duration) -> Duration

    public init(
        maxAttempts: Int = 4,
        baseDelay: Duration = .milliseconds(100),
        maxDelay: Duration = .seconds(2),
        attemptTimeout: Duration = .seconds(5),
        minimumAttemptTime: Duration = .milliseconds(200),
        jitter: @escaping @Sendable (Duration) -> Duration = RetryPolicy.fullJitter
    ) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.attemptTimeout = attemptTimeout
        self.minimumAttemptTime = minimumAttemptTime
        self.jitter = jitter
    }

    /// The upper bound of the delay before retry `retry` (1-based).
    public func delayBound(beforeRetry retry: Int) -> Duration {
        var bound = baseDelay
        for _ in 1..<max(retry, 1) {
            bound = bound * 2
            if bound >= maxDelay { return maxDelay }
        }
        return min(bound, maxDelay)
    }

    /// A uniformly random duration between zero and `bound`.
    public static let fullJitter: @Sendable (Duration) -> Duration = { bound in
        let nanos = bound.components.seconds * 1_000_000_000 + bound.components.attoseconds / 1_000_000_000
        guard nanos > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanos))
    }
}
