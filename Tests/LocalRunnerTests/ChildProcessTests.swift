import Foundation
import TestSupport
import Testing

/// The helper itself: a child that exits without reading its stdin must not take the test process down.
@Suite struct ChildProcessTests {
    @Test func aChildThatIgnoresItsStdinIsJustAnExitStatus() async throws {
        let run = try await runChildProcess(
            URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", "echo out; echo err >&2; exit 3"],
            stdin: .text(String(repeating: "x", count: 1 << 20))
        )
        #expect(run.status == 3)
        #expect(run.stdout == "out\n" && run.stderr == "err\n")
    }

    @Test func aChildThatWritesMuchToBothStreamsDoesNotBlock() async throws {
        let run = try await runChildProcess(
            URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", "head -c 300000 /dev/zero >&2; cat"],
            stdin: .text("echoed")
        )
        #expect(run.status == 0)
        #expect(run.stdout == "echoed" && run.stderr.utf8.count == 300_000)
    }
}
