import Foundation

/// What a finished child process did.
struct ChildProcessRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs an executable to completion, whatever it does with its input.
///
/// stdin comes from a temporary file, not a pipe: a child that exits without reading it (a usage error, a
/// refused configuration) cannot break a pipe under us — writing to one crashed the whole test process with
/// "Broken pipe" — and a large stdin cannot deadlock against an unread stdout. stdout and stderr are read
/// at the same time, so neither can fill up and block the child. The file is removed even when this throws.
func runChildProcess(
    _ executable: URL, arguments: [String] = [], stdin: String = "", environment: [String: String]? = nil
) throws -> ChildProcessRun {
    let inputURL = FileManager.default.temporaryDirectory.appendingPathComponent("wxauth-test-stdin-\(UUID().uuidString)")
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
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: stderr, as: UTF8.self)
    )
}
