import Foundation
import Testing

/// What a finished child process did.
struct ChildProcessRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs an executable to completion, whatever it does with its input.
///
/// Reading and waiting block, so they happen on a thread of their own: a blocked cooperative thread (there are as
/// many as cores) stalls every other test running meanwhile — on a busy two-core machine a 1 s timeout test once
/// measured 23 s that way.
///
/// stdin comes from a temporary file, not a pipe: a child that exits without reading it (a usage error, a
/// refused configuration) cannot break a pipe under us — writing to one crashed the whole test process with
/// "Broken pipe" — and a large stdin cannot deadlock against an unread stdout. stdout and stderr are read
/// at the same time, so neither can fill up and block the child. The file is removed even when this throws.
func runChildProcess(
    _ executable: URL,
    arguments: [String] = [],
    stdin: String = "",
    environment: [String: String]? = nil
) async throws -> ChildProcessRun {
    try await onOwnThread {
        try runChildProcessBlocking(executable, arguments: arguments, stdin: stdin, environment: environment)
    }
}

/// Runs blocking work (reading a pipe, waiting for a process) on a thread of its own, holding no cooperative thread.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

private func runChildProcessBlocking(
    _ executable: URL,
    arguments: [String],
    stdin: String,
    environment: [String: String]?
) throws -> ChildProcessRun {
    let inputURL = FileManager.default.temporaryDirectory.appendingPathComponent(
        "wxauth-test-stdin-\(UUID().uuidString)"
    )
    try Data(stdin.utf8).write(to: inputURL)
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
    try process.run()
    let stderrRead = DispatchGroup()
    nonisolated(unsafe) var stderr = Data()
    DispatchQueue.global().async(group: stderrRead) { stderr = errors.fileHandleForReading.readDataToEndOfFile() }
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    stderrRead.wait()
    process.waitUntilExit()
    return ChildProcessRun(
        status: process.terminationStatus,
        stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self)
    )
}

/// The helper itself: a child that exits without reading its stdin must not take the test process down.
@Suite struct ChildProcessTests {
    @Test func aChildThatIgnoresItsStdinIsJustAnExitStatus() async throws {
        let run = try await runChildProcess(
            URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", "echo out; echo err >&2; exit 3"],
            stdin: String(repeating: "x", count: 1 << 20)
        )
        #expect(run.status == 3)
        #expect(run.stdout == "out\n" && run.stderr == "err\n")
    }

    @Test func aChildThatWritesMuchToBothStreamsDoesNotBlock() async throws {
        let run = try await runChildProcess(
            URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", "head -c 300000 /dev/zero >&2; cat"],
            stdin: "echoed"
        )
        #expect(run.status == 0)
        #expect(run.stdout == "echoed" && run.stderr.utf8.count == 300_000)
    }
}
