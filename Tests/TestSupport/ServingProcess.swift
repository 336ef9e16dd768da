import BlockingSocket
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A built executable that keeps running and serving (`local-runner serve` and `dev`, `wxauth-http`): the one way the
/// tests start one. It is started, read until it says it is ready, used, and stopped with SIGTERM; dropped without
/// being stopped, it is killed.
///
/// Both pipes are read to their end, each on a thread of its own, from the start: a chatty server never blocks on a
/// full pipe, and nothing waits on Swift's cooperative pool.
package final class ServingProcess: Sendable {
    /// The output stream readiness is read from.
    package enum Stream: Sendable {
        case standardOutput, standardError
    }

    private let process: Process
    private let output = Captured()
    private let errors = Captured()
    private let readerThreads = DispatchGroup()
    /// What the watched stream said up to and including the line that made it ready.
    package let printed: String

    /// Starts `executable` and returns once a line of `watching` satisfies `isReady`; throws when the process
    /// ends its output first (then `printed` in the error shows what it said).
    package static func start(
        _ executable: URL,
        arguments: [String] = [],
        directory: URL? = nil,
        environment: [String: String],
        watching stream: Stream,
        until isReady: @escaping @Sendable (String) -> Bool
    ) async throws -> ServingProcess {
        try await onOwnThread {
            try ServingProcess(
                executable,
                arguments: arguments,
                directory: directory,
                environment: environment,
                watching: stream,
                until: isReady
            )
        }
    }

    private init(
        _ executable: URL,
        arguments: [String],
        directory: URL?,
        environment: [String: String],
        watching stream: Stream,
        until isReady: @escaping @Sendable (String) -> Bool
    ) throws {
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        let outputPipe = Pipe()
        let errorPipe = Pipe()
        process.standardOutput = outputPipe
        process.standardError = errorPipe
        try process.run()
        let watched = stream == .standardOutput ? output : errors
        let ready = DispatchSemaphore(value: 0)
        watched.onLine = isReady
        watched.ready = ready
        for (pipe, captured) in [(outputPipe, output), (errorPipe, errors)] {
            readerThreads.enter()
            Thread { [readerThreads] in
                captured.readToEnd(pipe.fileHandleForReading)
                readerThreads.leave()
            }.start()
        }
        ready.wait()
        let (text, becameReady) = watched.state.withLock { ($0.text, $0.readyAt) }
        guard let becameReady else {
            throw NotReady(printed: text)
        }
        printed = String(text[..<becameReady])
    }

    /// Why a serving process did not get ready: it ended its output first.
    package struct NotReady: Error, CustomStringConvertible {
        package var printed: String
        package var description: String { "the process ended its output before it was ready; it printed:\n\(printed)" }
    }

    /// Stops it with SIGTERM and waits for it: its exit status and all it wrote.
    package func stop() async -> (status: Int32, stdout: String, stderr: String) {
        await onOwnThread { [self] in
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            process.waitUntilExit()
            readerThreads.wait()
            return (process.terminationStatus, output.state.withLock(\.text), errors.state.withLock(\.text))
        }
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// One output stream as read so far, and the first line that made the process ready.
private final class Captured: @unchecked Sendable {
    struct State {
        var text = ""
        /// Where `text` ends after the ready line; nil until then.
        var readyAt: String.Index?
    }

    let state = Mutex(State())
    // Set before the reader thread starts, read only by it.
    var onLine: (@Sendable (String) -> Bool)?
    var ready: DispatchSemaphore?

    func readToEnd(_ handle: FileHandle) {
        var pending = Data()
        var signalled = false
        while case let chunk = handle.availableData, !chunk.isEmpty {
            pending += chunk
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[pending.startIndex...newline], as: UTF8.self)
                pending = Data(pending[(newline + 1)...])
                let isReady = !signalled && (onLine?(String(line.dropLast())) ?? false)
                state.withLock {
                    $0.text += line
                    if isReady { $0.readyAt = $0.text.endIndex }
                }
                if isReady {
                    signalled = true
                    ready?.signal()
                }
            }
        }
        let rest = String(decoding: pending, as: UTF8.self)
        state.withLock { $0.text += rest }
        if !signalled { ready?.signal() }
    }
}
