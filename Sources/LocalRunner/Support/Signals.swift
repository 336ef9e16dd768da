import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT and SIGTERM for long-running commands, turned into async events.
enum Signals {
    /// Suspends until SIGINT or SIGTERM arrives; returns which one.
    static func waitForTermination() async -> Int32 {
        let watch = SignalWatch()
        defer { watch.cancel() }
        return await withCheckedContinuation { continuation in
            watch.start { signal in continuation.resume(returning: signal) }
        }
    }

    /// Runs `body`, cancelling it at the first SIGINT or SIGTERM (so a running function is killed).
    static func cancellingOnTermination<T: Sendable>(
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let task = Task { try await body() }
        let watch = SignalWatch()
        defer { watch.cancel() }
        watch.start { _ in task.cancel() }
        return try await task.value
    }
}

/// Dispatch signal sources for SIGINT and SIGTERM that report the first signal once.
private final class SignalWatch: @unchecked Sendable {
    // Both guarded by `lock`: dispatch sources are thread-safe but not marked Sendable.
    private let lock = NSLock()
    private var sources: [any DispatchSourceSignal] = []
    private var fired = false

    func start(_ handler: @escaping @Sendable (Int32) -> Void) {
        for signalNumber in [SIGINT, SIGTERM] {
            #if canImport(Darwin)
            // Darwin delivers to dispatch through kqueue, below the default action, which would end
            // the process first. On Linux dispatch installs its own handler; ignoring would drop the signal.
            signal(signalNumber, SIG_IGN)
            #endif
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                let first = lock.withLock {
                    defer { fired = true }
                    return !fired
                }
                if first { handler(signalNumber) }
            }
            source.resume()
            lock.withLock { sources.append(source) }
        }
    }

    func cancel() {
        lock.withLock {
            for source in sources { source.cancel() }
            sources.removeAll()
        }
    }
}
