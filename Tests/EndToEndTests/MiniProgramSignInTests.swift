import Foundation
import JWTKit
import TestSupport
import Testing

/// The built `login`, `refresh` and `userinfo` executables, each run as its own process against the sandbox.
@Suite(.serialized) struct MiniProgramSignInTests {
    @Test(arguments: E2EDatabase.available) func signInUserinfoRefreshReuseAndRevocation(
        database: E2EDatabase
    ) async throws {
        try await withEndToEnd(database: database) { e2e in
            let login = try await e2e.login(user: "alice")
            #expect(login.exitStatus == 0)
            #expect(login.status == 200)
            #expect(login.headers["cache-control"] == "no-store")
            let tokens = try login.tokens
            let (access, refresh, user) = (tokens.access_token, tokens.refresh_token, tokens.user)
            #expect(user.openid.hasPrefix("o"))

            // The access token verifies with a standard library and the shared key, and carries CONTRACT §5's claims.
            struct Claims: JWTPayload {
                var iss: String, aud: String, sub: String, iat: Int, exp: Int, jti: String, sid: String,
                    client_id: String
                func verify(using algorithm: some JWTAlgorithm) async throws {}
            }
            let keys = await JWTKeyCollection().add(
                hmac: HMACKey(from: EndToEnd.jwtSecret),
                digestAlgorithm: .sha256,
                kid: JWKIdentifier(string: try TokenHeader(of: access).kid)
            )
            let claims = try await keys.verify(access, as: Claims.self)
            #expect(claims.iss == "wxauth" && claims.aud == "wxauth" && claims.sub == user.id)
            #expect(claims.client_id == EndToEnd.appid)
            #expect(claims.exp - claims.iat == 900)

            let info = try await e2e.userinfo(access)
            #expect(info.status == 200)
            // `updated_at` decodes as an integer, or `profile` throws.
            let profile = try info.profile
            #expect(profile.sub == claims.sub)
            #expect(profile.openid == user.openid)

            let rotated = try await e2e.refresh(refresh)
            #expect(rotated.status == 200)
            let next = try rotated.tokens.refresh_token
            #expect(next != refresh)

            let reused = try await e2e.refresh(refresh)
            #expect(reused.status == 400)
            #expect(try reused.refusal.error == "invalid_grant")
            let afterRevocation = try await e2e.refresh(next)
            #expect(afterRevocation.status == 400)
            let revokedInfo = try await e2e.userinfo(access)
            #expect(revokedInfo.status == 401)
            #expect(revokedInfo.headers["www-authenticate"]?.contains("invalid_token") == true)

            for run in [login, info, rotated, reused, afterRevocation, revokedInfo] {
                #expect(run.exitStatus == 0)
                assertNoSecrets(EndToEnd.secrets + ["secret="], in: run.stdout, run.stderr)
                assertNoSecrets([refresh, next], in: run.stderr)
            }
            if let sessionKey = try await e2e.sessionKey(user: "alice") {
                assertNoSecrets([sessionKey], in: login.stdout, login.stderr)
            }
        }
    }

    @Test func unknownAndReusedCodesAreInvalidGrants() async throws {
        try await withEndToEnd { e2e in
            let unknown = try await e2e.login(code: "0000000000unknowncode0000000000")
            #expect(unknown.status == 400)
            #expect(try unknown.refusal.error == "invalid_grant")
            #expect(try unknown.refusal.wechat_errcode == 40029)

            let code = try await e2e.mintCode()
            let first = try await e2e.login(code: code)
            #expect(first.status == 200)
            let second = try await e2e.login(code: code)
            #expect(second.status == 400)
            #expect(try second.refusal.wechat_errcode == 40163)
            for run in [unknown, second] {
                assertNoSecrets(EndToEnd.secrets + ["secret="], in: run.stdout, run.stderr)
            }
        }
    }

    @Test func busyOnceIsRetriedAndBusyForeverIsA503WithinTheDeadline() async throws {
        try await withEndToEnd { e2e in
            let code = try await e2e.mintCode()
            try await e2e.injectFault(
                #"{"endpoint":"/sns/jscode2session","errcode":-1,"errmsg":"system error","times":1}"#
            )
            let before = try await e2e.calls()
            let retried = try await e2e.login(code: code)
            #expect(retried.status == 200)
            #expect(try await e2e.calls() - before == 2)

            let stuck = try await e2e.mintCode()
            try await e2e.injectFault(
                #"{"endpoint":"/sns/jscode2session","errcode":-1,"errmsg":"system error","times":1000}"#
            )
            let busy = try await e2e.login(code: stuck, environment: ["WXAUTH_FUNCTION_TIMEOUT": "2"])
            #expect(busy.status == 503)
            #expect(try busy.refusal.error == "temporarily_unavailable")
            #expect(busy.headers["retry-after"] != nil)
            #expect(busy.elapsed < .seconds(2))
        }
    }

    @Test func aSlowWeChatIsA503AndTheCodeIsNotResent() async throws {
        try await withEndToEnd { e2e in
            let code = try await e2e.mintCode()
            try await e2e.injectFault(#"{"endpoint":"/sns/jscode2session","delay_ms":3000,"times":1}"#)
            let before = try await e2e.calls()
            let slow = try await e2e.login(code: code, environment: ["WXAUTH_FUNCTION_TIMEOUT": "1.5"])
            #expect(slow.status == 503)
            // It gave up at its own deadline instead of waiting for WeChat's late answer (3 s); the margin is
            // wide because the machine is shared, and the point is only that it did not wait.
            #expect(slow.elapsed < .seconds(2.8))
            #expect(try await e2e.calls() - before == 1)
        }
    }

    @Test func droppedConnectionIsA503() async throws {
        try await withEndToEnd { e2e in
            let code = try await e2e.mintCode()
            try await e2e.injectFault(#"{"endpoint":"/sns/jscode2session","drop":true,"times":1}"#)
            let dropped = try await e2e.login(code: code)
            #expect(dropped.status == 503)
            #expect(try dropped.refusal.error == "temporarily_unavailable")
        }
    }

    @Test func wrongAppSecretIsAServerErrorThatNamesNoSecret() async throws {
        try await withEndToEnd { e2e in
            let wrong = try await e2e.login(environment: ["WECHAT_SECRET": "wrong-secret-value-also-secret"])
            #expect(wrong.status == 500)
            #expect(try wrong.refusal.wechat_errcode == 40125)
            assertNoSecrets(["wrong-secret-value"], in: wrong.stdout, wrong.stderr)
        }
    }

    @Test func malformedEventsGetJSONAnswersAndExitZero() async throws {
        try await withEndToEnd { e2e in
            let deep = Array(
                (#"{"x":"# + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}").utf8
            )
            let huge = Array(
                (#"{"httpMethod":"POST","body":""# + String(repeating: "A", count: 3_000_000) + #""}"#).utf8
            )
            let inputs: [[UInt8]] = [
                [], Array("garbage".utf8), [0xFF, 0xFE, 0x00], Array("[]".utf8), Array(#"{"headers":1}"#.utf8), deep,
                huge,
                Array(#"{"httpMethod":"POST","body":"!!!","isBase64Encoded":true}"#.utf8),
                Array(#"{"version":"2.0","requestContext":{"http":{"method":"POST"}},"body":"{\"code\":[1]}"}"#.utf8),
            ]
            for function in ["login", "refresh", "userinfo", "callback"] {
                for input in inputs {
                    let run = try await e2e.invoke(function, stdin: input)
                    #expect(run.exitStatus == 0, "\(function) exited \(run.exitStatus)")
                    #expect([400, 401, 405, 413].contains(run.status), "\(function) answered \(run.status)")
                    #expect(run.stdout.split(separator: "\n").count == 1)
                }
            }
        }
    }

    /// Of many `refresh` processes presenting one token at once, exactly one wins; the rest are refused.
    @Test(arguments: E2EDatabase.available) func concurrentRefreshesHaveExactlyOneWinner(
        database: E2EDatabase
    ) async throws {
        try await withEndToEnd(database: database) { e2e in
            let refresh = try await e2e.signIn(user: "bob").refresh_token
            let processes = 8
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<processes {
                    group.addTask { try await e2e.refresh(refresh).status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count == 1)
            #expect(statuses.filter { $0 == 400 }.count == processes - 1)
        }
    }

    /// Many `login` processes signing the same new person in at once make one user, not one each.
    @Test(arguments: E2EDatabase.available) func concurrentFirstSignInsOfOnePersonMakeOneUser(
        database: E2EDatabase
    ) async throws {
        try await withEndToEnd(database: database) { e2e in
            var codes: [String] = []
            for _ in 0..<8 { codes.append(try await e2e.mintCode(user: "dave")) }
            let users = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for code in codes {
                    group.addTask {
                        let login = try await e2e.login(code: code)
                        return (login.status, try? login.tokens.user.id)
                    }
                }
                return try await group.reduce(into: [(Int, String?)]()) { $0.append($1) }
            }
            #expect(users.allSatisfy { $0.0 == 200 })
            #expect(Set(users.compactMap(\.1)).count == 1)
        }
    }
}
