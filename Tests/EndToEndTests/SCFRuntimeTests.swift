import Foundation
import Testing

@testable import LocalRunner

/// The function executables as Tencent SCF `bootstrap`s (event functions in the custom runtime), under an SCF
/// runtime API emulator, and SCF's Function URL events on stdin.
@Suite(.serialized) struct SCFRuntimeTests {
    static let functions = ["login", "callback", "refresh", "userinfo", "logout", "jwks", "admin"]

    static func start(_ executable: URL, environment: [String: String], emulator: RuntimeAPIEmulator) throws -> Process
    {
        let process = Process()
        process.executableURL = executable
        process.environment = environment.merging(emulator.environment(.scf)) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
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
    static func integrated(
        _ posted: RuntimeAPIEmulator.Posted?
    ) -> (status: Int, headers: [String: String], body: [String: Any])? {
        guard let posted, posted.kind == "response",
            let object = try? JSONSerialization.jsonObject(with: Data(posted.body.utf8)) as? [String: Any],
            Set(object.keys).subtracting(["multiValueHeaders"]) == [
                "isBase64Encoded", "statusCode", "headers", "body",
            ],
            object["isBase64Encoded"] as? Bool == false,
            let status = object["statusCode"] as? Int, let headers = object["headers"] as? [String: String],
            let text = object["body"] as? String
        else { return nil }
        let body = (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
        return (status, headers, body)
    }

    @Test(arguments: functions)
    func answersThreeEventsWarmWithAMalformedOneInTheMiddle(_ function: String) async throws {
        try await withEndToEnd { e2e in
            let emulator = try await RuntimeAPIEmulator(platform: .scf)
            let process = try Self.start(
                e2e.binDirectory.appendingPathComponent(function),
                environment: e2e.environment,
                emulator: emulator
            )
            defer { process.terminate() }
            #expect(await emulator.nextPosted()?.kind == "ready")
            let method = ["callback", "userinfo", "jwks"].contains(function) ? "GET" : "POST"

            await emulator.enqueue(
                id: "first",
                event: try Self.functionURLEvent(method, "/" + function, body: method == "POST" ? "{}" : "")
            )
            let first = await emulator.nextPosted()
            #expect(first?.requestId == "first")
            let firstAnswer = try #require(Self.integrated(first))
            #expect((400..<500).contains(firstAnswer.status))
            #expect(firstAnswer.body["error"] is String)
            if function == "logout" {
                #expect(firstAnswer.headers["set-cookie"]?.hasPrefix("wxauth_refresh=;") == true)
            }

            await emulator.enqueue(id: "malformed", event: "{\"httpMethod\": \"GET\", ")
            let malformed = await emulator.nextPosted()
            #expect(malformed?.requestId == "malformed")
            #expect(Self.integrated(malformed)?.status == 400)
            #expect(Self.integrated(malformed)?.body["error"] as? String == "invalid_request")

            await emulator.enqueue(id: "third", event: try Self.apiGatewayEvent("DELETE", "/" + function))
            let third = await emulator.nextPosted()
            #expect(third?.requestId == "third")
            let thirdAnswer = try #require(Self.integrated(third))
            #expect(thirdAnswer.status == 405)
            #expect(thirdAnswer.headers["allow"] != nil)
            #expect(process.isRunning)
            await emulator.stop()
        }
    }

    @Test func signsInAndReadsTheProfileWarmThroughFunctionURLEvents() async throws {
        try await withEndToEnd { e2e in
            let login = try await RuntimeAPIEmulator(platform: .scf)
            let loginProcess = try Self.start(
                e2e.binDirectory.appendingPathComponent("login"),
                environment: e2e.environment,
                emulator: login
            )
            defer { loginProcess.terminate() }
            #expect(await login.nextPosted()?.kind == "ready")
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
                #expect(answer.status == 200)
                #expect(answer.headers["cache-control"] == "no-store")
                tokens.append(try #require(answer.body["access_token"] as? String))
            }
            print("SCF warm login latencies (emulator round trip, sandbox WeChat): \(latencies)")

            let userinfo = try await RuntimeAPIEmulator(platform: .scf)
            let userinfoProcess = try Self.start(
                e2e.binDirectory.appendingPathComponent("userinfo"),
                environment: e2e.environment,
                emulator: userinfo
            )
            defer { userinfoProcess.terminate() }
            #expect(await userinfo.nextPosted()?.kind == "ready")
            for (index, token) in tokens.enumerated() {
                await userinfo.enqueue(
                    id: "u-\(index)",
                    event: try Self.functionURLEvent("GET", "/userinfo", headers: ["authorization": "Bearer \(token)"])
                )
                let answer = try #require(Self.integrated(await userinfo.nextPosted()))
                #expect(answer.status == 200)
                #expect(answer.body["sub"] is String)
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
            let process = try Self.start(
                e2e.binDirectory.appendingPathComponent("refresh"),
                environment: environment,
                emulator: emulator
            )
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
            let token = try #require(login.body["access_token"] as? String)

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
            #expect(gateway.body["error"] as? String == "invalid_request")
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
            // Zipping and unzipping take seconds of CPU: on a thread of their own, never a cooperative one, where the
            // in-process sandbox of every end-to-end test runs.
            let unzipStatus = await EndToEnd.onThread { () -> Int32 in
                do {
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
                    let unzip = Process()
                    unzip.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                    unzip.arguments = [
                        "unzip", "-q", output.appendingPathComponent("login.zip").path, "-d", unpacked.path,
                    ]
                    try unzip.run()
                    unzip.waitUntilExit()
                    return unzip.terminationStatus
                } catch {
                    return -1
                }
            }
            #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("serverless.yml").path))
            #expect(unzipStatus == 0)
            let bootstrap = unpacked.appendingPathComponent("bootstrap")
            #expect(FileManager.default.isExecutableFile(atPath: bootstrap.path))

            let emulator = try await RuntimeAPIEmulator(platform: .scf)
            let process = try Self.start(
                bootstrap,
                environment: e2e.environment.merging(["_HANDLER": "login"]) { _, new in new },
                emulator: emulator
            )
            defer { process.terminate() }
            #expect(await emulator.nextPosted()?.kind == "ready")
            for index in 0..<2 {
                let code = try await e2e.mintCode(user: "scf-zip\(index)")
                await emulator.enqueue(
                    id: "zip-\(index)",
                    event: try Self.functionURLEvent("POST", "/login", body: #"{"code":"\#(code)"}"#)
                )
                let answer = try #require(Self.integrated(await emulator.nextPosted()))
                #expect(answer.status == 200)
            }
            await emulator.stop()
        }
    }
}
