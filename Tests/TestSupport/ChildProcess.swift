import BlockingSocket
import Foundation

/// What a finished child process did.
package struct ChildProcessRun: Sendable {
    package var status: Int32
    package var stdout: String
    package var stderr: String
    /// From just before it started to its exit.
    package var elapsed: Duration
}

/// Runs an executable to completion, whatever it does with its input: the one way the tests run a built
/// executable (functions, the runner, readelf, unzip, python).
///
/// Reading and waiting block, so they happen on a thread of their own: a blocked cooperative thread (there are as
/// many as cores) stalls every other test running meanwhile — on a busy two-core machine a 1 s timeout test once
/// measured 23 s that way.
///
/// stdin comes from a temporary file, not a pipe: a child that exits without reading it (a usage error, a
/// refused configuration, a bounded read) cannot break a pipe under us — writing to one crashed the whole test
/// process with "Broken pipe" — and a large stdin cannot deadlock against an unread stdout. stdout and stderr are
/// read at the same time, so neither can fill up and block the child. The file is removed even when this throws.
package func runChildProcess(
    _ executable: URL,
    arguments: [String] = [],
    stdin: [UInt8] = [],
    environment: [String: String]? = nil
) async throws -> ChildProcessRun {
    try await onOwnThread { () throws -> ChildProcessRun in
        try runChildProcessBlocking(executable, arguments: arguments, stdin: stdin, environment: environment)
    }
}

/// ``runChildProcess(_:arguments:stdin:environment:)`` with text on stdin.
package func runChildProcess(
    _ executable: URL,
    arguments: [String] = [],
    stdin: String,
    environment: [String: String]? = nil
) async throws -> ChildProcessRun {
    try await runChildProcess(executable, arguments: arguments, stdin: Array(stdin.utf8), environment: environment)
}

/// ``runChildProcess(_:arguments:stdin:environment:)`` on the calling thread, for what cannot wait
/// asynchronously (a `static let`); it blocks that thread until the child exits.
package func runChildProcessBlocking(
    _ executable: URL,
    arguments: [String] = [],
    stdin: [UInt8] = [],
    environment: [String: String]? = nil
) throws -> ChildProcessRun {
    let inputURL = FileManager.default.temporaryDirectory.appendingPathComponent(
        "wxauth-test-stdin-\(UUID().uuidString)"
    )
    try Data(stdin).write(to: inputURL)
    defer { try? FileManager.default.removeItem(at: inputURL) }
    let input = try FileHandle(forReadingFrom: inputURL)
    defer { try? input.close() }

    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    let output = Pipe()
    let errors = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = errors
    let started = ContinuousClock.now
    try process.run()
    // stderr on a thread of its own, not on Dispatch's global queue: that queue has about one thread per core, and
    // tests running many processes at once would fill it with blocking reads and hold up everything else on it.
    let stderrRead = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var stderr = Data()
    Thread {
        stderr = errors.fileHandleForReading.readDataToEndOfFile()
        stderrRead.signal()
    }.start()
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    stderrRead.wait()
    process.waitUntilExit()
    return ChildProcessRun(
        status: process.terminationStatus,
        stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self),
        elapsed: ContinuousClock.now - started
    )
}
