import Foundation
import PostgresTestSupport
import Testing

/// The function executables as Lambda `bootstrap`s: one warm process serving several invocations.
@Suite(.serialized) struct LambdaRuntimeTests {
    func start(
        _ function: String,
        environment: [String: String],
        emulator: RuntimeAPIEmulator,
        e2e: EndToEnd
    ) throws -> Process {
        let process = Process()
        process.executableURL = e2e.binDirectory.appendingPathComponent(function)
        process.environment = environment.merging(["AWS_LAMBDA_RUNTIME_API": emulator.address]) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    static func event(
        _ method: String,
        _ path: String,
        body: String? = nil,
        headers: [String: String] = [:]
    ) throws -> String {
        var event: [String: Any] = [
            "version": "2.0", "rawPath": path,
            "headers": headers.merging(["content-type": "application/json"]) { a, _ in a },
            "requestContext": ["http": ["method": method, "path": path], "requestId": UUID().uuidString],
        ]
        if let body { event["body"] = body }
        return String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self)
    }

    static func response(_ posted: RuntimeAPIEmulator.Posted?) -> (Int, [String: Any]) {
        guard let posted, let object = try? JSONSerialization.jsonObject(with: Data(posted.body.utf8)) as? [String: Any]
        else {
            return (-1, [:])
        }
        let body = (object["body"] as? String).flatMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        return (object["statusCode"] as? Int ?? -1, body ?? [:])
    }

    @Test func oneWarmProcessServesSignInAndUserinfoInvocations() async throws {
        try await withEndToEnd { e2e in
            let emulator = try await RuntimeAPIEmulator()

            let login = try start("login", environment: e2e.environment, emulator: emulator, e2e: e2e)
            defer { login.terminate() }

            var accessTokens: [String] = []
            for index in 0..<3 {
                let code = try await e2e.mintCode(user: "lambda\(index)")
                await emulator.enqueue(
                    id: "req-\(index)",
                    event: try Self.event("POST", "/login", body: #"{"code":"\#(code)"}"#)
                )
                let posted = await emulator.nextPosted()
                #expect(posted?.kind == "response" && posted?.requestId == "req-\(index)")
                let (status, body) = Self.response(posted)
                #expect(status == 200)
                accessTokens.append(body["access_token"] as? String ?? "")
            }
            await emulator.enqueue(id: "bad", event: "this is not an event")
            let (badStatus, _) = Self.response(await emulator.nextPosted())
            #expect(badStatus == 400)
            #expect(login.isRunning)

            let userinfoEmulator = try await RuntimeAPIEmulator()

            let userinfo = try start("userinfo", environment: e2e.environment, emulator: userinfoEmulator, e2e: e2e)
            defer { userinfo.terminate() }
            for token in accessTokens {
                await userinfoEmulator.enqueue(
                    id: UUID().uuidString,
                    event: try Self.event("GET", "/userinfo", headers: ["authorization": "Bearer \(token)"])
                )
                let (status, body) = Self.response(await userinfoEmulator.nextPosted())
                #expect(status == 200)
                #expect(body["sub"] is String)
            }
            await emulator.stop()
            await userinfoEmulator.stop()
        }
    }

    /// A warm process keeps one PostgreSQL connection for all its invocations instead of one per invocation.
    @Test(.enabled(if: PostgresTestDatabase.url != nil, Comment(rawValue: PostgresTestDatabase.skipReason)))
    func oneWarmProcessKeepsOnePostgresConnection() async throws {
        try await withEndToEnd(database: .postgres) { e2e in
            let emulator = try await RuntimeAPIEmulator()
            let name = "wxauth-e2e-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
            var environment = e2e.environment
            environment["WXAUTH_DATABASE_URL"] = e2e.databaseURL + "&application_name=" + name
            let login = try start("login", environment: environment, emulator: emulator, e2e: e2e)
            defer { login.terminate() }
            for index in 0..<4 {
                let code = try await e2e.mintCode(user: "warm\(index)")
                await emulator.enqueue(
                    id: "req-\(index)",
                    event: try Self.event("POST", "/login", body: #"{"code":"\#(code)"}"#)
                )
                #expect(Self.response(await emulator.nextPosted()).0 == 200)
            }
            let url = try #require(PostgresTestDatabase.url)
            let connections = try await PostgresTestDatabase.integer(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = '\(name)'",
                url: url
            )
            #expect(connections == 1)
            await emulator.stop()
        }
    }

    @Test func missingConfigurationIsAnInitError() async throws {
        try await withEndToEnd { e2e in
            let emulator = try await RuntimeAPIEmulator()

            var environment = e2e.environment
            environment["WXAUTH_JWT_SECRET"] = nil
            let process = try start("refresh", environment: environment, emulator: emulator, e2e: e2e)
            let posted = await emulator.nextPosted()
            #expect(posted?.kind == "init/error")
            #expect(posted?.body.contains("WXAUTH_JWT_SECRET is not set") == true)
            await EndToEnd.onThread { process.waitUntilExit() }
            #expect(process.terminationStatus != 0)
            await emulator.stop()
        }
    }
}
