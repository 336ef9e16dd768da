import Logging
import Testing
import WeChat
import WeChatHTTP

@testable import WeChatSandbox

/// The blocking WeChat transport the functions use, against the real sandbox server on loopback.
@Suite("WireTransport against the sandbox")
struct WireTransportTests {
    @Test func codesAreExchangedAndRefusedThroughTheBlockingTransport() async throws {
        try await Sandbox.with { sandbox in
            let client = WeChatClient(
                apiBase: sandbox.server.baseURL,
                transport: WireTransport(),
                logger: Logger(label: "test")
            )
            for user in ["alice", "bob"] {
                let code = try await sandbox.newCode(user: user)
                let session = try await client.codeToSession(
                    appid: Sandbox.appA.appid,
                    secret: Secret(Sandbox.appA.secret),
                    code: code,
                    deadline: .now + .seconds(10)
                )
                #expect(!session.openid.isEmpty)
            }
            // A used code is refused with WeChat's own errcode, through the same transport.
            let code = try await sandbox.newCode()
            let deadline = ContinuousClock.now + .seconds(10)
            _ = try await client.codeToSession(
                appid: Sandbox.appA.appid,
                secret: Secret(Sandbox.appA.secret),
                code: code,
                deadline: deadline
            )
            let error = await #expect(throws: WeChatError.self) {
                try await client.codeToSession(
                    appid: Sandbox.appA.appid,
                    secret: Secret(Sandbox.appA.secret),
                    code: code,
                    deadline: deadline
                )
            }
            #expect(error?.errcode == 40163)
        }
    }
}
