/// The shared state of a circuit breaker (CONTRACT §8), kept in the store so every instance of a fleet sees
/// the same: a cold instance must not start closed while WeChat is down. Times in seconds since the epoch.
public struct CircuitState: Sendable, Equatable {
    /// Consecutive failures counted since `windowStart`.
    public var failures: Int
    /// When the first of the counted failures happened.
    public var windowStart: Int64
    /// While `now < openUntil` calls are held back; 0 when the circuit is closed.
    public var openUntil: Int64
    /// After `openUntil`, one probe may call; it holds this lease until then. 0 when no probe is out.
    public var probeUntil: Int64

    public init(failures: Int = 0, windowStart: Int64 = 0, openUntil: Int64 = 0, probeUntil: Int64 = 0) {
        self.failures = failures
        self.windowStart = windowStart
        self.openUntil = openUntil
        self.probeUntil = probeUntil
    }

    /// Whether anything is recorded that a success should clear.
    public var isClean: Bool { failures == 0 && openUntil == 0 && probeUntil == 0 }
}

/// The rules a circuit changes by, as pure functions of its state, so every store applies the same ones
/// inside its own atomic update.
public struct CircuitPolicy: Sendable, Equatable {
    /// Consecutive failures that open the circuit…
    public var threshold: Int
    /// …when they happen within this many seconds.
    public var window: Int64
    /// How long an open circuit holds calls back before one probe may try.
    public var openFor: Int64
    /// How long a probe may take before another caller may probe instead.
    public var probeLease: Int64

    /// CONTRACT §8: 5 failures within 30 s open it for 30 s.
    public init(threshold: Int = 5, window: Int64 = 30, openFor: Int64 = 30, probeLease: Int64 = 10) {
        self.threshold = threshold
        self.window = window
        self.openFor = openFor
        self.probeLease = probeLease
    }

    /// The state after a failed call at `now`: counted, and opened at the threshold. A failed probe (the circuit
    /// had opened before) opens it again at once.
    public func afterFailure(_ state: CircuitState?, now: Int64) -> CircuitState {
        var next = state ?? CircuitState()
        if next.openUntil != 0 {
            // Failed while open or as the probe: (re)open for a full period.
            return CircuitState(openUntil: now.addingClamped(openFor))
        }
        if next.failures == 0 || now - next.windowStart > window {
            next.failures = 1
            next.windowStart = now
        } else {
            next.failures += 1
        }
        if next.failures >= threshold { return CircuitState(openUntil: now.addingClamped(openFor)) }
        return next
    }

    /// The probe's lease, taken when the open period is over and no live probe holds it; nil when the caller
    /// may not call (still open, or another probe is out).
    public func claimingProbe(_ state: CircuitState?, now: Int64) -> CircuitState? {
        guard let state, state.openUntil != 0, state.openUntil <= now, state.probeUntil <= now else { return nil }
        var next = state
        next.probeUntil = now.addingClamped(probeLease)
        return next
    }
}

extension Int64 {
    /// `self + other`, stopping at the largest value instead of trapping.
    func addingClamped(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}
