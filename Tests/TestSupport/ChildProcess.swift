import BlockingSocket
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a finished child process did.
package struct ChildProcessRun: Sendable {
    package var status: Int32
    package var stdout: String
    package var stderr: String
    /// From just before it started to its exit.
    package var elapsed: Duration
    /// Whether it outlived its timeout and was killed (SIGKILL) for it.
    package var timedOut = false
}

/// Where a child's stdin comes from.
package enum ChildInput: Sendable {
    /// These bytes, through a temporary file.
    case bytes([UInt8])
    /// An existing file, e.g. `/dev/zero` for an endless stdin.
    case file(String)

    /// Text, as UTF-8 bytes.
    package static func text(_ text: String) -> ChildInput { .bytes(Array(text.utf8)) }
}

/// Runs an executable to completion, whatever it does with its input: the one way the tests run a built
/// executable (functions, the runner, readelf, unzip, python).
///
/// Reading and waiting block, so they happen on a thread of their own: a blocked cooperative thread (there are as
/// many as cores) stalls every other test running meanwhile — on a busy two-core machine a 1 s timeout test once
/// measured 23 s that way.
///
/// stdin comes from a file, not a pipe: a child that exits without reading it (a usage error, a refused
/// configuration, a bounded read) cannot break a pipe under us — writing to one crashed the whole test process with
/// "Broken pipe" — and a large stdin cannot deadlock against an unread stdout. stdout and stderr are read at the
/// same time, so neither can fill up and block the child. A temporary stdin file is removed even when this throws.
///
/// With a `timeout`, a child still running when it passes is killed and the run says so (``ChildProcessRun/timedOut``);
/// the wait is on the child's exit, never a sleep.
package func runChildProcess(
    _ executable: URL,
    arguments: [String] = [],
    stdin: ChildInput = .bytes([]),
    environment: [String: String]? = nil,
    timeout: Duration? = nil
) async throws -> ChildProcessRun {
    try await onOwnThread { () throws -> ChildProcessRun in
        try runChildProcessBlocking(
            executable,
            arguments: arguments,
            stdin: stdin,
            environment: environment,
            timeout: timeout
        )
    }
}

/// ``runChildProcess(_:arguments:stdin:environment:timeout:)`` on the calling thread, for callers that are not
/// async (a `static let`); never call it from Swift's cooperative pool.
package func runChildProcessBlocking(
    _ executable: URL,
    arguments: [String] = [],
    stdin: ChildInput = .bytes([]),
    environment: [String: String]? = nil,
    timeout: Duration? = nil
) throws -> ChildProcessRun {
    let inputPath: String
    var temporaryInput: URL?
    switch stdin {
    case .file(let path):
        inputPath = path
    case .bytes(let bytes):
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "wxauth-test-stdin-\(UUID().uuidString)"
        )
        try Data(bytes).write(to: url)
        temporaryInput = url
        inputPath = url.path
    }
    defer { if let temporaryInput { try? FileManager.default.removeItem(at: temporaryInput) } }
    let stdinHandle = try FileHandle(forReadingFrom: URL(fileURLWithPath: inputPath))
    defer { try? stdinHandle.close() }

    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    let output = Pipe()
    let errors = Pipe()
    process.standardInput = stdinHandle
    process.standardOutput = output
    process.standardError = errors
    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    let started = ContinuousClock.now
    try process.run()
    // Both pipes on threads of their own, not on Dispatch's global queue: that queue has about one thread per core,
    // and tests running many processes at once would fill it with blocking reads and hold up everything else on it.
    let outputs = DispatchGroup()
    nonisolated(unsafe) var stdout = Data()
    nonisolated(unsafe) var stderr = Data()
    outputs.enter()
    Thread {
        stdout = output.fileHandleForReading.readDataToEndOfFile()
        outputs.leave()
    }.start()
    outputs.enter()
    Thread {
        stderr = errors.fileHandleForReading.readDataToEndOfFile()
        outputs.leave()
    }.start()
    var timedOut = false
    if let timeout {
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(clamping: seconds) &* 1_000_000_000 &+ Int(attoseconds / 1_000_000_000)
        if exited.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            timedOut = true
            exited.wait()
        }
    } else {
        exited.wait()
    }
    outputs.wait()
    process.waitUntilExit()
    return ChildProcessRun(
        status: process.terminationStatus,
        stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self),
        elapsed: ContinuousClock.now - started,
        timedOut: timedOut
    )
}
