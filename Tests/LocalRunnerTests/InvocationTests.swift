import Foundation
import Synchronization
import TestSupport
import Testing

@testable import LocalRunner

/// Invocations of small shell scripts standing in for function executables.
@Suite("Invocation")
struct InvocationTests {
    /// A fresh directory with executable scripts, removed when the test ends.
    final class BinDirectory {
        let url: URL

        init(_ scripts: [String: String]) throws {
            url = FileManager.default.temporaryDirectory.appendingPathComponent(
                "local-runner-tests-\(UUID().uuidString)"
            )
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            for (name, body) in scripts {
                // Close-on-exec, so a process another test spawns meanwhile cannot hold the script open
                // for writing, which would make running it fail with ETXTBSY.
                let fd = open(url.appendingPathComponent(name).path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
                let bytes = Array("#!/bin/sh\n\(body)\n".utf8)
                #expect(fd >= 0 && write(fd, bytes, bytes.count) == bytes.count)
                close(fd)
            }
        }

        deinit { try? FileManager.default.removeItem(at: url) }

        func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    }

    /// Collects relayed stderr.
    final class Collector: Sendable {
        private let bytes = Mutex<[UInt8]>([])
        func append(_ chunk: [UInt8]) { bytes.withLock { $0 += chunk } }
        var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
    }

    static let echo = #"""
        body=$(cat)
        echo "log line from $WXAUTH_FUNCTION_NAME" >&2
        printf '{"statusCode":200,"body":"%s","env":"' "$(printf %s "$body" | wc -c | tr -d ' ')"
        env | sort | tr '\n' ' '
        printf '"}'
        """#

    func run(
        _ script: String,
        timeout: Double = 10,
        event: String = "{}",
        manifestEnvironment: [String: String] = [:],
        runnerEnvironment: [String: String] = [:],
        envFile: EnvironmentFile? = nil
    ) async throws -> (InvocationResult, stderr: String, bin: BinDirectory) {
        let bin = try BinDirectory(["handler": script])
        let function = FunctionSpec(
            name: "fn",
            handler: "handler",
            route: "/fn",
            methods: ["GET"],
            timeout: timeout,
            memory: 128,
            environment: manifestEnvironment
        )
        let invocation = Invocation(
            function: function,
            binDirectory: bin.url,
            runnerEnvironment: runnerEnvironment,
            envFile: envFile
        )
        let collector = Collector()
        let result = try await invocation.run(event: Array(event.utf8)) { collector.append($0) }
        return (result, collector.text, bin)
    }

    @Test func relaysStdoutStderrAndEnvironment() async throws {
        let envFile = try EnvironmentFile(parsing: "FROM_FILE=f\nOVERRIDDEN=file\nDROPPED=\n", file: "e")
        let (result, stderr, _) = try await run(
            Self.echo,
            event: #"{"version":"2.0"}"#,
            manifestEnvironment: ["MANIFEST": "m", "OVERRIDDEN": "manifest", "DROPPED": "d"],
            runnerEnvironment: [
                "PATH": "/usr/bin:/bin", "HOME": "/root", "SECRET_IN_SHELL": "x", "AWS_LAMBDA_RUNTIME_API": "h",
            ],
            envFile: envFile
        )
        #expect(result.outcome.termination == .exited(0))
        #expect(result.succeeded)
        #expect(result.errorJSON == nil)
        #expect(result.statusCode == 200)
        #expect(stderr == "log line from fn\n")
        let response = String(decoding: result.outcome.stdout, as: UTF8.self)
        #expect(response.contains(#""body":"17""#), "the event reached stdin: \(response)")
        for variable in [
            "MANIFEST=m", "OVERRIDDEN=file", "FROM_FILE=f", "WXAUTH_FUNCTION_TIMEOUT=10", "WXAUTH_FUNCTION_NAME=fn",
            "PATH=/usr/bin:/bin", "HOME=/root",
        ] {
            #expect(response.contains(variable), "\(variable) missing in \(response)")
        }
        assertNoSecrets(["SECRET_IN_SHELL", "AWS_LAMBDA_RUNTIME_API", "DROPPED"], in: response)
    }

    @Test func reportLineLooksLikeLambdas() async throws {
        let (result, _, _) = try await run(#"cat >/dev/null; echo '{"statusCode":204}'"#)
        let report = result.reportLine
        let fields = report.split(separator: "\t").map(String.init)
        #expect(fields.count == 5, "\(report)")
        #expect(fields[0] == "REPORT RequestId: \(result.requestID)")
        #expect(UUID(uuidString: result.requestID) != nil)
        #expect(fields[1].wholeMatch(of: /Duration: \d+\.\d\d ms/) != nil, "\(report)")
        #expect(fields[2].wholeMatch(of: /Billed Duration: \d+ ms/) != nil, "\(report)")
        #expect(fields[3] == "Memory Size: 128 MB")
        #expect(fields[4].wholeMatch(of: /Max Memory Used: [1-9]\d* MB/) != nil, "\(report)")
        #expect(result.outcome.maxResidentBytes > 0)
        #expect(result.statusCode == 204)
    }

    @Test func largeEventDoesNotDeadlock() async throws {
        // More than a pipe buffer each way: stdin must be written while stdout is read.
        let event = #"{"body":""# + String(repeating: "x", count: 1_000_000) + #""}"#
        let (result, _, _) = try await run(#"printf '{"statusCode":200,"body":"'; cat; printf '"}'"#, event: event)
        #expect(result.outcome.termination == .exited(0))
        #expect(result.outcome.stdout.count == #"{"statusCode":200,"body":""#.utf8.count + event.utf8.count + 2)
    }

    @Test func childThatIgnoresStdinStillCompletes() async throws {
        let event = String(repeating: "x", count: 1_000_000)
        let (result, _, _) = try await run(#"echo '{"statusCode":200}'"#, event: event)
        #expect(result.outcome.termination == .exited(0))
        #expect(result.succeeded)
    }

    @Test func timeoutKillsTheWholeProcessGroup() async throws {
        let started = ContinuousClock.now
        let (result, stderr, bin) = try await run(
            #"""
            sleep 30 &
            echo $! > "$(dirname "$0")/sleeper.pid"
            echo waiting >&2
            wait
            """#,
            timeout: 1
        )
        #expect(result.outcome.termination == .timedOut)
        #expect(!result.succeeded)
        #expect(result.outcome.duration >= .seconds(1))
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(stderr == "waiting\n")
        #expect(result.errorJSON == #"{"errorMessage":"Task timed out after 1.00 seconds","errorType":"Timeout"}"#)
        let sleeper = try #require(
            Int32(
                try String(contentsOf: bin.file("sleeper.pid"), encoding: .utf8).trimmingCharacters(
                    in: .whitespacesAndNewlines
                )
            )
        )
        #expect(Self.isGone(sleeper), "the background sleep survived the timeout")
    }

    @Test func leftoverBackgroundProcessesEndWithTheFunction() async throws {
        // The background sleep keeps stdout open; the runner must not wait for it until the timeout.
        let (result, _, bin) = try await run(
            #"""
            sleep 30 &
            echo $! > "$(dirname "$0")/sleeper.pid"
            echo '{"statusCode":200}'
            """#
        )
        #expect(result.outcome.termination == .exited(0))
        #expect(result.outcome.duration < .seconds(5))
        let sleeper = try #require(
            Int32(
                try String(contentsOf: bin.file("sleeper.pid"), encoding: .utf8).trimmingCharacters(
                    in: .whitespacesAndNewlines
                )
            )
        )
        #expect(Self.isGone(sleeper), "the background sleep survived its function")
    }

    /// True when `pid` no longer runs: gone, or a zombie that init has not reaped yet.
    static func isGone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        // The state follows the parenthesised command name: "PID (comm) S ...".
        guard let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    @Test func nonZeroExitIsAnError() async throws {
        let (result, stderr, _) = try await run("echo 'boom' >&2; exit 3")
        #expect(result.outcome.termination == .exited(3))
        #expect(!result.succeeded)
        #expect(stderr == "boom\n")
        #expect(
            result.errorJSON
                == #"{"errorMessage":"Runtime exited with error: exit status 3","errorType":"Runtime.ExitError"}"#
        )
    }

    @Test func usingMoreThanTheMemorySizeFailsAsLambdaWould() async throws {
        // 300 MB of bytes actually written (not just reserved), against the function's 128 MB.
        let hog = #"exec python3 -c 'data = b"x" * (300 << 20); print("{\"statusCode\":200}")'"#
        let (result, _, _) = try await run(hog, runnerEnvironment: ["PATH": "/usr/bin:/bin:/usr/local/bin"])
        #expect(result.outcome.termination == .outOfMemory)
        #expect(result.failure?.type == "Runtime.OutOfMemory")
        #expect(result.problem?.contains("exceeded its memory size of 128 MB") == true)
        #expect(result.reportLine.contains("Memory Size: 128 MB"))

        let modest = #"exec python3 -c 'data = b"x" * (16 << 20); print("{\"statusCode\":200}")'"#
        let (fine, _, _) = try await run(modest, runnerEnvironment: ["PATH": "/usr/bin:/bin:/usr/local/bin"])
        #expect(fine.succeeded, "\(fine.problem ?? "")")
        #expect(fine.outcome.maxResidentBytes > 16 << 20, "the peak RSS is reported")
    }

    @Test func crashBySignalIsAnError() async throws {
        let (result, _, _) = try await run("kill -SEGV $$")
        #expect(result.outcome.termination == .signaled(SIGSEGV))
        #expect(result.failure?.type == "Runtime.ExitError")
        #expect(result.failure?.message.contains("(11)") == true)
    }

    @Test(arguments: ["", "not json", "[1,2]", #"{"statusCode":200} trailing"#])
    func outputThatIsNotOneJSONObjectIsAnError(output: String) async throws {
        let (result, _, _) = try await run("printf '%s' '\(output)'")
        #expect(result.outcome.termination == .exited(0))
        #expect(result.failure?.type == "Runtime.InvalidResponse")
    }

    @Test func missingExecutableCannotBeSpawned() async throws {
        let bin = try BinDirectory([:])
        let function = FunctionSpec(name: "ghost", handler: "ghost", route: "/g", methods: ["GET"])
        let invocation = Invocation(function: function, binDirectory: bin.url, runnerEnvironment: [:])
        await #expect(throws: FunctionProcess.SpawnError(executable: bin.file("ghost").path, code: ENOENT)) {
            _ = try await invocation.run(event: []) { _ in }
        }
    }

    @Test func cancellationKillsTheProcess() async throws {
        let bin = try BinDirectory(["handler": "echo started >&2; exec sleep 30"])
        let function = FunctionSpec(name: "fn", handler: "handler", route: "/fn", methods: ["GET"], timeout: 60)
        let invocation = Invocation(function: function, binDirectory: bin.url, runnerEnvironment: [:])
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        let task = Task {
            try await invocation.run(event: []) { _ in startedContinuation.yield() }
        }
        for await _ in started { break }
        task.cancel()
        let result = try await task.value
        #expect(result.outcome.termination == .cancelled)
        #expect(result.outcome.duration < .seconds(30))
    }

    @Test func binDirectoryComesFromTheEnvironmentOrTheExecutable() {
        #expect(Invocation.binDirectory(environment: ["WXAUTH_BIN_DIR": "/opt/fns"]).path == "/opt/fns")
        let own = Invocation.binDirectory(environment: ["WXAUTH_BIN_DIR": ""])
        #expect(!own.path.isEmpty && own.path != "/opt/fns")
    }

    @Test func timeoutIsPassedAsSeconds() {
        #expect(Invocation.secondsText(10) == "10")
        #expect(Invocation.secondsText(2.5) == "2.5")
    }
}
