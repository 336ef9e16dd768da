import Foundation
import TestSupport
import Testing

/// Input an attacker or a broken deployment sends, through the built executables: every one is answered,
/// promptly, and a bad setting is refused before WeChat is called (CONTRACT §2, §6).
@Suite struct HostileInputEndToEndTests {
    /// stdin is read up to 6 MiB + 1 byte and no further: an endless one gets 413 at once, not after draining.
    @Test(arguments: ["login", "userinfo"]) func endlessStdinIsAnswered413(function: String) async throws {
        try await withEndToEnd { e2e in
            let (run, timedOut) = try await e2e.invokeBounded(function, stdin: .file("/dev/zero"))
            #expect(!timedOut, "\(function) did not answer an endless stdin")
            #expect(run.exitStatus == 0)
            #expect(run.status == 413, "\(run.stdout)")
            #expect(run.stdout.split(separator: "\n").count == 1)
        }
    }

    /// A `NAME_FILE` is read up to 64 KiB: `/dev/zero` is a 500 naming the setting, at once.
    @Test func anEndlessSecretFileIsA500NamingTheSetting() async throws {
        try await withEndToEnd { e2e in
            let userinfo = try await e2e.invokeBounded(
                "userinfo",
                stdin: .bytes(GatewayEvent("GET", "/userinfo", headers: ["authorization": "Bearer x.y.z"]).bytes),
                extraEnvironment: ["WXAUTH_JWT_SECRET": "", "WXAUTH_JWT_SECRET_FILE": "/dev/zero"]
            )
            #expect(!userinfo.1, "userinfo did not answer with WXAUTH_JWT_SECRET_FILE=/dev/zero")
            #expect(userinfo.0.status == 500, "\(userinfo.0.stdout)")
            #expect(try userinfo.0.refusal.error == "server_error")
            #expect(try userinfo.0.refusal.error_description?.contains("WXAUTH_JWT_SECRET_FILE") == true)

            let code = try await e2e.mintCode()
            let login = try await e2e.invokeBounded(
                "login",
                stdin: .bytes(GatewayEvent("POST", "/login", body: #"{"code":"\#(code)"}"#).bytes),
                extraEnvironment: ["WECHAT_SECRET": "", "WECHAT_SECRET_FILE": "/dev/zero"]
            )
            #expect(!login.1, "login did not answer with WECHAT_SECRET_FILE=/dev/zero")
            #expect(login.0.status == 500, "\(login.0.stdout)")
            #expect(try login.0.refusal.error_description?.contains("WECHAT_SECRET_FILE") == true)
            #expect(try await e2e.calls() == 0)
        }
    }

    /// Numbers out of range are a 500 naming the setting before WeChat is called. `WXAUTH_REFRESH_TTL=Int64.max`
    /// once crashed after WeChat had consumed the code; `WXAUTH_FUNCTION_TIMEOUT=1e300` crashed at start-up.
    @Test(arguments: [
        ("WXAUTH_ACCESS_TTL", "9223372036854775807"), ("WXAUTH_REFRESH_TTL", "9223372036854775807"),
        ("WXAUTH_REFRESH_TTL", "0"), ("WXAUTH_FUNCTION_TIMEOUT", "1e300"), ("WXAUTH_FUNCTION_TIMEOUT", "nan"),
        ("WXAUTH_FUNCTION_TIMEOUT", "inf"), ("WXAUTH_FUNCTION_TIMEOUT", "-5"), ("WXAUTH_FUNCTION_TIMEOUT", "901"),
    ])
    func badNumbersAreRefusedBeforeWeChatIsCalled(setting: String, value: String) async throws {
        try await withEndToEnd { e2e in
            let code = try await e2e.mintCode()
            let (run, timedOut) = try await e2e.invokeBounded(
                "login",
                stdin: .bytes(GatewayEvent("POST", "/login", body: #"{"code":"\#(code)"}"#).bytes),
                extraEnvironment: [setting: value]
            )
            #expect(!timedOut)
            #expect(run.exitStatus == 0, "\(run.stderr)")
            #expect(run.status == 500, "\(run.stdout)")
            #expect(try run.refusal.error == "server_error")
            #expect(try run.refusal.error_description?.hasPrefix(setting + " must be") == true, "\(run.stdout)")
            #expect(try await e2e.calls() == 0)
        }
    }

    /// Bodies are parsed as strictly as events (RFC 8259): what Foundation would let through is a 400, and the
    /// code never reaches WeChat.
    @Test(arguments: [
        #"{"code":"CODE",}"#, #"{"code":"CODE","n":[1.]}"#, #"{"code":"CODE","n":-01}"#, #"{"code":"CODE","n":1eE2}"#,
        #"{"code":"CODE","x":"\q"}"#, "{\"code\":\"CODE\",\"x\":\"a\u{01}b\"}", #"{"code":"CODE"} x"#,
    ])
    func lenientBodiesAreRefused(template: String) async throws {
        try await withEndToEnd { e2e in
            let body = template.replacingOccurrences(of: "CODE", with: try await e2e.mintCode())
            let (run, timedOut) = try await e2e.invokeBounded(
                "login",
                stdin: .bytes(GatewayEvent("POST", "/login", body: body).bytes)
            )
            #expect(!timedOut)
            #expect(run.status == 400, "\(run.stdout)")
            #expect(try run.refusal.error == "invalid_request")
            #expect(try await e2e.calls() == 0)
        }
    }
}

extension EndToEnd {
    /// Runs `function` with `stdin` (`/dev/zero` too), killed if it has not exited within `timeout`;
    /// `timedOut` says whether it had to be.
    func invokeBounded(
        _ function: String,
        stdin: ChildInput,
        extraEnvironment: [String: String] = [:],
        timeout: Duration = .seconds(30)
    ) async throws -> (Invocation, timedOut: Bool) {
        let run = try await runChildProcess(
            executable(function),
            stdin: stdin,
            environment: environment.merging(extraEnvironment) { _, new in new },
            timeout: timeout
        )
        let invocation = Invocation(
            exitStatus: run.status,
            stdout: run.stdout,
            stderr: run.stderr,
            elapsed: run.elapsed
        )
        return (invocation, run.timedOut)
    }
}
