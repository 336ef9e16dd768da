import Foundation
import Synchronization

/// The sandbox's notion of "now": code lifetimes are measured against it, so tests can move time.
public protocol SandboxClock: Sendable {
    /// The current time.
    func now() -> Date
}

/// The wall clock.
public struct SystemSandboxClock: SandboxClock {
    /// Creates a wall clock.
    public init() {}

    /// The current wall-clock time.
    public func now() -> Date { Date() }
}

/// A clock that only moves when told to, for tests of expiry without sleeping.
public final class ManualSandboxClock: SandboxClock {
    private let current: Mutex<Date>

    /// Creates a clock frozen at `start`.
    public init(start: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        self.current = Mutex(start)
    }

    /// The time the clock currently shows.
    public func now() -> Date {
        self.current.withLock { $0 }
    }

    /// Moves the clock forward by `seconds`.
    public func advance(by seconds: TimeInterval) {
        self.current.withLock { $0 += seconds }
    }

    /// Sets the clock to `date`.
    public func set(_ date: Date) {
        self.current.withLock { $0 = date }
    }
}
