import Foundation
import TestSupport
import Testing

@testable import LocalRunner

/// The function executables as Tencent SCF `bootstrap`s (event functions in the custom runtime), under an SCF
/// runtime API emulator, and SCF's Function URL events on stdin.
@Suite(.serialized) struct SCFRuntimeTests {
    static let functions = ["login", "callback", "refresh", "userinfo", "logout", "jwks", "admin"]

    /// An SCF runtime API emulator with `executable` started under it as its `bootstrap`, once the instance has
    /// said it is ready.
    static func startReady(
        _ executable: URL,
        environment: [String: String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (RuntimeAPIEmulator, Process) {
        let emulator = try await RuntimeAPIEmulator(platform: .scf)
        let process = try emulator.start(executable, environment: environment)
        #expect(await emulator.nextPosted()?.kind == "ready", sourceLocation: sourceLocation)
        return (emulator, process)
    }

    /// A Function URL event, shaped as SCF's documentation shows it: no `requestContext`, no
    /// `queryStringParameters`, no `isBase64Encoded`; the query as an object in `queryString`.
    static func functionURLEvent(
        _ method: String,
        _ path: String,
        query: [String: String] = [:],
        headers: [String: String] = [:],
        body: String = ""
    ) throws -> String {
        let event: [String: Any] = [
            "httpMethod": method, "path": path, "queryString": query, "body": body,
            "headers": headers.merging(["content-type": "application/json", "accept": "*/*"]) { a, _ in a },
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self)
    }

    /// SCF's API-gateway trigger event.
    static func apiGatewayEvent(_ method: String, _ path: String, body: String = "") throws -> String {
        let event: [String: Any] = [
            "requestContext": [
                "serviceId": "service-test", "path": path, "httpMethod": method, "requestId": UUID().uuidString,
                "identity": [:], "sourceIp": "10.0.2.14", "stage": "release",
            ],
            "headers": ["content-type": "application/json"], "body": body, "pathParameters": [:],
            "queryStringParameters": [:], "headerParameters": [:], "stageVariables": ["stage": "release"],
            "path": path, "queryString": [:], "httpMethod": method,
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self)
    }

    /// The integrated response SCF accepts: exactly these members (plus `multiValueHeaders` for several cookies).
    static func integrated(_ posted: RuntimeAPIEmulator.Posted?) -> ProxyResponse? {
        guard let posted, posted.kind == "response",
            let members = try? decodeJSON([String: JSONValue].self, from: posted.body),
            Set(members.keys).subtracting(["multiValueHeaders"]) == [
                "isBase64Encoded", "statusCode", "headers", "body",
            ],
            let response = posted.response, response.isBase64Encoded == false, response.headers != nil,
            response.body != nil
        else { return nil }
        return response
    }

    @Test(arguments: functions)
    func answersThreeEventsWarmWithAMalformedOneInTheMiddle(_ function: String) async throws {
        try await withEndToEnd { e2e in
            let (emulator, process) = try await Self.startReady(e2e.executable(function), environment: e2e.environment)
            defer { process.terminate() }
            let method = ["callback", "userinfo", "jwks"].contains(function) ? "GET" : "POST"

            await emulator.enqueue(
                id: "first",
                event: try Self.functionURLEvent(method, "/" + function, body: method == "POST" ? "{}" : "")
            )
            let first = await emulator.nextPosted()
            #expect(first?.requestId == "first")
            let firstAnswer = try #require(Self.integrated(first))
            #expect((400..<500).contains(firstAnswer.statusCode))
            #expect(try !firstAnswer.refusal.error.isEmpty)
            if function == "logout" {
                #expect(firstAnswer.headers?["set-cookie"]?.hasPrefix("wxauth_refresh=;") == true)
            }

            await emulator.enqueue(id: "malformed", event: "{\"httpMethod\": \"GET\", ")
            let malformed = await emulator.nextPosted()
            #expect(malformed?.requestId == "malformed")
            let malformedAnswer = try #require(Self.integrated(malformed))
            #expect(malformedAnswer.statusCode == 400)
            #expect(try malformedAnswer.refusal.error == "invalid_request")

            await emulator.enqueue(id: "third", event: try Self.apiGatewayEvent("DELETE", "/" + function))
            let third = await emulator.nextPosted()
            #expect(third?.requestId == "third")
            let thirdAnswer = try #require(Self.integrated(third))
            #expect(thirdAnswer.statusCode == 405)
            #expect(thirdAnswer.headers?["allow"] != nil)
            #expect(process.isRunning)
            await emulator.stop()
        }
    }

    @Test func signsInAndReadsTheProfileWarmThroughFunctionURLEvents() async throws {
        try await withEndToEnd { e2e in
            let (login, loginProcess) = try await Self.startReady(e2e.executable("login"), environment: e2e.environment)
            defer { loginProcess.terminate() }
            var tokens: [String] = []
            var latencies: [Duration] = []
            for index in 0..<3 {
                let code = try await e2e.mintCode(user: "scf\(index)")
                let started = ContinuousClock.now
                await login.enqueue(
                    id: "login-\(index)",
                    event: try Self.functionURLEvent("POST", "/login", body: #"{"code":"\#(code)"}"#)
                )
                let answer = try #require(Self.integrated(await login.nextPosted()))
                latencies.append(ContinuousClock.now - started)
                #expect(answer.statusCode == 200)
                #expect(answer.headers?["cache-control"] == "no-store")
                tokens.append(try answer.tokens.access_token)
            }
            print("SCF warm login latencies (emulator round trip, sandbox WeChat): \(latencies)")

            let (userinfo, userinfoProcess) = try await Self.startReady(
                e2e.executable("userinfo"),
                environment: e2e.environment
            )
            defer { userinfoProcess.terminate() }
            for (index, token) in tokens.enumerated() {
                await userinfo.enqueue(
                    id: "u-\(index)",
                    event: try Self.functionURLEvent("GET", "/userinfo", headers: ["authorization": "Bearer \(token)"])
                )
                let answer = try #require(Self.integrated(await userinfo.nextPosted()))
                #expect(answer.statusCode == 200)
                #expect(try !answer.profile.sub.isEmpty)
            }
            await login.stop()
            await userinfo.stop()
        }
    }

    @Test func missingConfigurationStopsTheInstanceBeforeItIsReady() async throws {
        try await withEndToEnd { e2e in
            let emulator = try await RuntimeAPIEmulator(platform: .scf)
            var environment = e2e.environment
            environment["WXAUTH_JWT_SECRET"] = nil
            let process = try emulator.start(e2e.executable("refresh"), environment: environment)
            await EndToEnd.onThread { process.waitUntilExit() }
            #expect(process.terminationStatus != 0)
            await emulator.stop()
        }
    }

    @Test func functionURLEventsOnStdin() async throws {
        try await withEndToEnd { e2e in
            let code = try await e2e.mintCode(user: "scf-stdin")
            let login = try await e2e.invoke(
                "login",
                stdin: Array(try Self.functionURLEvent("POST", "/login", body: #"{"code":"\#(code)"}"#).utf8)
            )
            #expect(login.exitStatus == 0)
            #expect(login.status == 200)
            let token = try login.tokens.access_token

            let web = try await e2e.invoke(
                "login",
                stdin: Array(try Self.functionURLEvent("GET", "/login", query: ["return_to": "/app"]).utf8)
            )
            #expect(web.status == 302)
            #expect(web.headers["location"]?.contains("/connect/qrconnect") == true)

            let profile = try await e2e.invoke(
                "userinfo",
                stdin: Array(
                    try Self.functionURLEvent("GET", "/userinfo", headers: ["authorization": "Bearer \(token)"]).utf8
                )
            )
            #expect(profile.status == 200)
            let gateway = try await e2e.invoke(
                "refresh",
                stdin: Array(try Self.apiGatewayEvent("POST", "/refresh", body: "{}").utf8)
            )
            #expect(gateway.status == 400)
            #expect(try gateway.refusal.error == "invalid_request")
        }
    }

    /// `package --platform scf`'s zip, unpacked as SCF unpacks it: its `bootstrap` serves SCF's runtime API.
    @Test func aPackagedZipsBootstrapServesSCFsRuntimeAPI() async throws {
        try await withEndToEnd { e2e in
            let output = FileManager.default.temporaryDirectory.appendingPathComponent(
                "scf-package-\(UUID().uuidString)"
            )
            defer { try? FileManager.default.removeItem(at: output) }
            let unpacked = output.appendingPathComponent("unpacked")
            let binaries = e2e.binDirectory
            // Zipping takes seconds of CPU: on a thread of their own, never a cooperative one, where the in-process
            // sandbox of every end-to-end test runs (runChildProcess waits for unzip on one of its own too).
            let packaged = await EndToEnd.onThread { () -> Result<Void, any Error> in
                Result {
                    _ = try Packager(
                        manifest: BrowserTools.manifest,
                        functions: ["login"],
                        output: output,
                        build: false,
                        zips: true,
                        database: .both,
                        platform: .scf,
                        binaries: binaries,
                        progress: { _ in }
                    ).run()
                }
            }
            try packaged.get()
            let unzip = try await runChildProcess(
                URL(fileURLWithPath: "/usr/bin/env"),
                arguments: ["unzip", "-q", output.appendingPathComponent("login.zip").path, "-d", unpacked.path]
            )
            #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("serverless.yml").path))
            #expect(unzip.status == 0, "\(unzip.stderr)")
            let bootstrap = unpacked.appendingPathComponent("bootstrap")
            #expect(FileManager.default.isExecutableFile(atPath: bootstrap.path))

            let (emulator, process) = try await Self.startReady(
                bootstrap,
                environment: e2e.environment.merging(["_HANDLER": "login"]) { _, new in new }
            )
            defer { process.terminate() }
            for index in 0..<2 {
                let code = try await e2e.mintCode(user: "scf-zip\(index)")
                await emulator.enqueue(
                    id: "zip-\(index)",
                    event: try Self.functionURLEvent("POST", "/login", body: #"{"code":"\#(code)"}"#)
                )
                let answer = try #require(Self.integrated(await emulator.nextPosted()))
                #expect(answer.statusCode == 200)
            }
            await emulator.stop()
        }
    }
}
