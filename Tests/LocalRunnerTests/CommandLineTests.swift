import BlockingSocket
import Foundation
import TestSupport
import Testing

@testable import LocalRunner

/// The `local-runner` built beside the test bundle, if the build made it.
let builtLocalRunner: URL? = {
    let directory = (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0]))
        .resolvingSymlinksInPath().deletingLastPathComponent()
    let candidate = directory.appendingPathComponent("local-runner")
    return FileManager.default.isExecutableFile(atPath: candidate.path) ? candidate : nil
}()

/// The built `local-runner` executable, run as a user runs it: exit status, stdout and stderr.
@Suite("local-runner CLI", .enabled(if: builtLocalRunner != nil, "local-runner is not built"))
struct CommandLineTests {
    typealias Run = ChildProcessRun

    static let manifest = """
        defaults: {timeout: 5, memory: 64}
        functions:
          echo: {handler: echo, route: /echo, method: POST}
          crash: {handler: crash, route: /crash, method: GET}
        """

    /// Runs local-runner with a manifest of small shell-script functions in a temporary directory.
    func localRunner(_ arguments: [String], stdin: String = "", manifest text: String = manifest) async throws -> Run {
        let bin = try InvocationTests.BinDirectory([
            "echo": #"printf '{"statusCode":200,"body":"%s"}' "$(cat | tr -d '"')"; echo "log" >&2"#,
            "crash": "exit 4",
        ])
        let manifest = bin.file("functions.yaml")
        try Data(text.utf8).write(to: manifest)
        return try await runChildProcess(
            try #require(builtLocalRunner),
            arguments: arguments.map { $0 == "MANIFEST" ? manifest.path : $0 },
            stdin: .text(stdin),
            environment: ["PATH": "/usr/bin:/bin", "WXAUTH_BIN_DIR": bin.url.path]
        )
    }

    @Test func invokePrintsTheResponseAndAReport() async throws {
        let run = try await localRunner(["invoke", "echo", "--manifest", "MANIFEST"])
        #expect(run.status == 0)
        #expect(run.stdout == "{\"statusCode\":200,\"body\":\"{}\"}\n")
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.first == "log")
        #expect(lines.last?.hasPrefix("REPORT RequestId: ") == true, "\(run.stderr)")
        #expect(lines.last?.contains("\tMemory Size: 64 MB\t") == true)
    }

    @Test func invokeReadsTheEventFromStdin() async throws {
        let run = try await localRunner(
            ["invoke", "echo", "--event", "-", "--manifest", "MANIFEST"],
            stdin: #"{"a":"b"}"#
        )
        #expect(run.status == 0)
        #expect(run.stdout == "{\"statusCode\":200,\"body\":\"{a:b}\"}\n")
    }

    @Test func crashExitsOneWithLambdasErrorBody() async throws {
        let run = try await localRunner(["invoke", "crash", "--manifest", "MANIFEST"])
        #expect(run.status == 1)
        #expect(run.stdout.contains(#""errorType":"Runtime.ExitError""#))
        #expect(run.stderr.contains("exit status 4"))
        #expect(run.stderr.split(separator: "\n").last?.hasPrefix("REPORT RequestId: ") == true)
    }

    @Test func unknownFunctionExitsTwoListingTheKnownOnes() async throws {
        let run = try await localRunner(["invoke", "nope", "--manifest", "MANIFEST"])
        #expect(run.status == 2)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains("no function 'nope'") && run.stderr.contains("known: echo, crash"))
    }

    @Test func badManifestExitsTwoNamingFileAndLine() async throws {
        let run = try await localRunner(["invoke", "echo", "--manifest", "/nonexistent/functions.yaml"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("/nonexistent/functions.yaml: cannot be read"))
    }

    /// `invoke echo` given `option` naming a file that does not exist: a usage error (2) saying `message`.
    func invokeWithMissingFile(_ option: String, _ path: String, saying message: String) async throws -> Run {
        let run = try await localRunner(["invoke", "echo", option, path, "--manifest", "MANIFEST"])
        #expect(run.status == 2)
        #expect(run.stderr.contains(message), "\(run.stderr)")
        return run
    }

    @Test func aMissingEventFileSaysWhyAndWhereSamplesAre() async throws {
        let run = try await invokeWithMissingFile(
            "--event",
            "/nonexistent/evnt.json",
            saying: "cannot read the event file /nonexistent/evnt.json: No such file or directory"
        )
        #expect(run.stderr.contains("events/"), "\(run.stderr)")
    }

    @Test func aMissingEnvFileSaysWhyWithoutALineZero() async throws {
        let run = try await invokeWithMissingFile(
            "--env-file",
            "/nonexistent/nope.env",
            saying: "/nonexistent/nope.env: cannot be read: No such file or directory"
        )
        #expect(!run.stderr.contains(":0:"), "\(run.stderr)")
    }

    @Test func aMisspeltHandlerIsCalledThatRatherThanUnbuilt() async throws {
        let misspelt = "functions:\n  login: {handler: logn, route: /login, method: POST}\n"
        let run = try await localRunner(["invoke", "login", "--manifest", "MANIFEST"], manifest: misspelt)
        #expect(run.status == 1)
        #expect(run.stderr.contains("no such handler: logn"), "\(run.stderr)")
        #expect(run.stderr.contains("login, callback, refresh"), "\(run.stderr)")
        #expect(!run.stderr.contains("not built"), "\(run.stderr)")
    }

    @Test func serveOnATakenPortSaysSoAndSuggestsPortZero() async throws {
        let taken = try LoopbackListener()
        let run = try await localRunner(["serve", "--port", "\(taken.port)", "--manifest", "MANIFEST"])
        #expect(run.status == 1)
        #expect(
            run.stderr.contains("cannot listen on 127.0.0.1:\(taken.port): Address already in use"),
            "\(run.stderr)"
        )
        #expect(run.stderr.contains("--port 0"), "\(run.stderr)")
        #expect(!run.stderr.contains("errno"), "\(run.stderr)")
        withExtendedLifetime(taken) {}
    }

    @Test func serveListensPrintsRoutesAndStopsOnSIGTERM() async throws {
        let bin = try InvocationTests.BinDirectory([
            "echo": #"cat >/dev/null; echo "echo log" >&2; printf '{"statusCode":200,"body":"served"}'"#
        ])
        let manifest = bin.file("functions.yaml")
        try Data("functions:\n  echo: {handler: echo, route: /echo, method: [POST, GET]}\n".utf8).write(to: manifest)
        let runner = try await RunningRunner.start(
            ["serve", "--port", "0", "--manifest", manifest.path],
            environment: ["WXAUTH_BIN_DIR": bin.url.path]
        )
        let printed = runner.printed
        let served = /Serving 1 function on http:\/\/127\.0\.0\.1:(\d+)\n/
        let match = try #require(printed.firstMatch(of: served), "\(printed)")
        let port = try #require(Int(match.1))
        #expect(printed.contains("POST    /echo  -> echo"))
        #expect(printed.contains("GET     /echo  -> echo"))
        #expect(printed.contains("Mode: one process per request\nMemory: "), "\(printed)")

        let response = try LoopbackHTTP.postJSON(port: port, path: "/echo", body: "{}")
        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == "served")

        let (status, _, stderr) = await runner.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stderr.contains("[echo] echo log"), "\(stderr)")
        // Started without a signing key: said at start-up, with how to make one, rather than 500s later.
        #expect(stderr.contains("WXAUTH_JWT_SECRET is not set for echo"), "\(stderr)")
        #expect(stderr.contains("openssl rand -hex 32"), "\(stderr)")
        #expect(stderr.contains(/POST \/echo 200 \d+\.\dms maxRSS=\d+MB function=echo/), "\(stderr)")
    }
}

/// The built `local-runner` serving (`serve`, `dev`), started with `arguments` and read up to "Stop with Ctrl-C.".
enum RunningRunner {
    static func start(
        _ arguments: [String],
        directory: URL? = nil,
        environment: [String: String]
    ) async throws -> ServingProcess {
        try await ServingProcess.start(
            try #require(builtLocalRunner, "local-runner is not built"),
            arguments: arguments,
            directory: directory,
            environment: ["PATH": "/usr/bin:/bin"].merging(environment) { $1 },
            watching: .standardOutput,
            until: { $0.contains("Stop with Ctrl-C.") }
        )
    }
}

/// A loopback TCP port held open (bound and listening) until this value is released.
final class LoopbackListener {
    let descriptor: Int32
    let port: Int

    init() throws {
        (descriptor, port) = try LoopbackSocket.make(backlog: 1)
    }

    deinit { close(descriptor) }
}
