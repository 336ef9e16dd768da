import Foundation
import PostgresTestSupport
import TestSupport
import Testing

/// The function executables as Lambda `bootstrap`s: one warm process serving several invocations.
@Suite(.serialized) struct LambdaRuntimeTests {
    @Test func oneWarmProcessServesSignInAndUserinfoInvocations() async throws {
        try await withEndToEnd { e2e in
            let emulator = try await RuntimeAPIEmulator()

            let login = try emulator.start(e2e.executable("login"), environment: e2e.environment)
            defer { login.terminate() }

            var accessTokens: [String] = []
            for index in 0..<3 {
                let code = try await e2e.mintCode(user: "lambda\(index)")
                await emulator.enqueue(
                    id: "req-\(index)",
                    event: GatewayEvent("POST", "/login", body: #"{"code":"\#(code)"}"#).text
                )
                let posted = await emulator.nextPosted()
                #expect(posted?.kind == "response" && posted?.requestId == "req-\(index)")
                let response = try #require(posted?.response)
                #expect(response.statusCode == 200)
                accessTokens.append(try response.tokens.access_token)
            }
            await emulator.enqueue(id: "bad", event: "this is not an event")
            #expect(await emulator.nextPosted()?.response?.statusCode == 400)
            #expect(login.isRunning)

            let userinfoEmulator = try await RuntimeAPIEmulator()

            let userinfo = try userinfoEmulator.start(e2e.executable("userinfo"), environment: e2e.environment)
            defer { userinfo.terminate() }
            for token in accessTokens {
                await userinfoEmulator.enqueue(
                    id: UUID().uuidString,
                    event: GatewayEvent("GET", "/userinfo", headers: ["authorization": "Bearer \(token)"]).text
                )
                let response = try #require(await userinfoEmulator.nextPosted()?.response)
                #expect(response.statusCode == 200)
                #expect(try !response.profile.sub.isEmpty)
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
            let login = try emulator.start(e2e.executable("login"), environment: environment)
            defer { login.terminate() }
            for index in 0..<4 {
                let code = try await e2e.mintCode(user: "warm\(index)")
                await emulator.enqueue(
                    id: "req-\(index)",
                    event: GatewayEvent("POST", "/login", body: #"{"code":"\#(code)"}"#).text
                )
                #expect(await emulator.nextPosted()?.response?.statusCode == 200)
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
            let process = try emulator.start(e2e.executable("refresh"), environment: environment)
            let posted = await emulator.nextPosted()
            #expect(posted?.kind == "init/error")
            #expect(posted?.body.contains("WXAUTH_JWT_SECRET is not set") == true)
            await EndToEnd.onThread { process.waitUntilExit() }
            #expect(process.terminationStatus != 0)
            await emulator.stop()
        }
    }
}
