import Foundation
import Testing
import WeChatSandbox

@Suite("control API")
struct ControlAPITests {
    @Test("health answers ok")
    func health() async throws {
        try await Sandbox.with { sandbox in
            let result = try await sandbox.get("/sandbox/health")
            #expect(result.status == 200)
            #expect(result.answer.ok == true)
        }
    }

    @Test("apps registered at run time can exchange codes")
    func registerApp() async throws {
        try await Sandbox.with(apps: []) { sandbox in
            let app = SandboxApp(appid: "wxlate", secret: "late-secret")
            #expect(try await sandbox.post("/sandbox/codes", json: #"{"appid": "wxlate"}"#).status == 400)

            let registered = try await sandbox.post(
                "/sandbox/apps",
                json: #"{"appid": "wxlate", "secret": "late-secret"}"#
            )
            #expect(registered.status == 201)
            let code = try await sandbox.newCode(app: app)
            #expect(try await sandbox.exchange(code: code, appid: app.appid, secret: app.secret).errcode == nil)
        }
    }

    @Test("a code without a user gets a fresh one each time")
    func randomUser() async throws {
        try await Sandbox.with { sandbox in
            let first = try await sandbox.mintCode(user: nil)
            let second = try await sandbox.mintCode(user: nil)
            let user = try #require(first.user)
            #expect(!user.isEmpty)
            #expect(first.user != second.user)
            #expect(first.openid != second.openid)
        }
    }

    @Test("the minted code names its user's ids, and the exchange agrees")
    func mintedIds() async throws {
        try await Sandbox.with { sandbox in
            let minted = try await sandbox.mintCode(user: "erin")
            #expect(minted.appid == Sandbox.appA.appid)
            #expect(minted.user == "erin")
            let again = try await sandbox.mintCode(user: "erin")
            #expect(again.openid == minted.openid)
            #expect(again.code != minted.code)
        }
    }

    @Test(
        "bad control requests are refused with 400",
        arguments: [
            ("/sandbox/codes", #"{"appid": "wxnope"}"#),
            ("/sandbox/codes", #"{"user": "alice"}"#),
            ("/sandbox/codes", #"{"appid": "wx00000000000000a1", "user": ""}"#),
            ("/sandbox/apps", #"{"appid": "wxonly"}"#),
            ("/sandbox/apps", #"{"appid": "", "secret": "s"}"#),
            ("/sandbox/apps", "[]"),
        ]
    )
    func badRequests(_ path: String, _ body: String) async throws {
        try await Sandbox.with { sandbox in
            let result = try await sandbox.post(path, json: body)
            #expect(result.status == 400)
            #expect(result.contentType.hasPrefix("application/json"))
            #expect(result.answer.error != nil)
        }
    }

    @Test("starting on a port in use fails instead of hanging")
    func portInUse() async throws {
        try await Sandbox.with { sandbox in
            await #expect(throws: (any Error).self) {
                let second = try await SandboxServer.start(port: sandbox.server.port)
                await second.stop()
            }
        }
    }

    @Test("baseURL names the loopback address and the bound port")
    func baseURL() async throws {
        let server = try await SandboxServer.start()
        #expect(server.port > 0)
        #expect(server.baseURL == "http://127.0.0.1:\(server.port)")
        await server.stop()
    }
}

@Suite("manual clock")
struct ManualClockTests {
    @Test("moves only when told")
    func advance() {
        let start = Date(timeIntervalSince1970: 1_000)
        let clock = ManualSandboxClock(start: start)
        #expect(clock.now() == start)
        clock.advance(by: 90)
        #expect(clock.now() == start.addingTimeInterval(90))
        clock.set(start)
        #expect(clock.now() == start)
    }
}
