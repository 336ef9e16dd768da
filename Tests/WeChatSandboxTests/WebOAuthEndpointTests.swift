import Foundation
import Logging
import Testing
import WeChat
import WeChatHTTP

@testable import WeChatSandbox

@Suite("web OAuth APIs behave like WeChat")
struct WebOAuthEndpointTests {
    /// A web sign-in: WeChat's token answer, and the fields every test uses, present.
    struct WebSession {
        var answer: SandboxAnswer
        var access: String
        var refresh: String
        var openid: String
        var tokens: (access: String, refresh: String, openid: String) { (self.access, self.refresh, self.openid) }
    }

    /// Mints and exchanges a code for `user`.
    func signIn(
        _ sandbox: Sandbox,
        user: String = "alice",
        scope: String = "snsapi_userinfo"
    ) async throws -> WebSession {
        let minted = try await sandbox.mintWebCode(
            #"{"appid": "\#(Sandbox.officialAccount.appid)", "user": "\#(user)", "scope": "\#(scope)"}"#
        )
        let result = try await sandbox.exchangeWebCode(try #require(minted.code))
        guard result.status == 200, result.errcode == nil else { throw UnexpectedAnswer(result: result) }
        let answer = try result.decoded(SandboxAnswer.self)
        return WebSession(
            answer: answer,
            access: try #require(answer.accessToken),
            refresh: try #require(answer.refreshToken),
            openid: try #require(answer.openid)
        )
    }

    // MARK: Control API

    @Test("web codes: defaults per app kind, unionid per scope")
    func mintWebCodes() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let oa = try await sandbox.mintWebCode(#"{"appid": "\#(Sandbox.officialAccount.appid)", "user": "alice"}"#)
            #expect(oa.scope == "snsapi_userinfo")
            #expect(oa.unionid == TestUsers.unionid(user: "alice"))
            #expect(oa.openid == TestUsers.openid(appid: Sandbox.officialAccount.appid, user: "alice"))
            #expect(oa.snapshot == false)
            #expect((oa.code)?.count == 32)

            let base = try await sandbox.mintWebCode(
                #"{"appid": "\#(Sandbox.officialAccount.appid)", "user": "alice", "scope": "snsapi_base"}"#
            )
            #expect(base.unionid == nil)
            let web = try await sandbox.mintWebCode(#"{"appid": "\#(Sandbox.website.appid)"}"#)
            #expect(web.scope == "snsapi_login")
            #expect(web.unionid != nil)
            #expect((web.user)?.isEmpty == false)
        }
    }

    @Test(
        "bad web-code requests are refused with 400",
        arguments: [
            #"{"appid": "wxnope"}"#, #"{"user": "alice"}"#, #"{"appid": "wx00000000000000a1"}"#,
            #"{"appid": "wx00000000000000c3", "scope": "snsapi_login"}"#,
            #"{"appid": "wx00000000000000d4", "scope": "snsapi_base"}"#,
            #"{"appid": "wx00000000000000c3", "user": ""}"#, #"{"appid": "wx00000000000000c3", "snapshot": "yes"}"#,
        ]
    )
    func badWebCodes(_ body: String) async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let result = try await sandbox.post("/sandbox/web-codes", json: body)
            #expect(result.status == 400)
            #expect(result.answer.error != nil)
        }
    }

    @Test("mini-program codes are minted only for mini-programs")
    func miniCodesOnlyForMiniPrograms() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let result = try await sandbox.post(
                "/sandbox/codes",
                json: #"{"appid": "\#(Sandbox.officialAccount.appid)"}"#
            )
            #expect(result.status == 400)
            #expect((result.answer.error)?.contains("web-codes") == true)
        }
    }

    // MARK: Code exchange

    @Test("success: text/plain, WeChat's fields, 7200 s")
    func exchangeShape() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let minted = try await sandbox.mintWebCode(
                #"{"appid": "\#(Sandbox.officialAccount.appid)", "user": "alice"}"#
            )
            let result = try await sandbox.exchangeWebCode(try #require(minted.code))
            #expect(result.status == 200)
            #expect(result.contentType.hasPrefix("text/plain"))
            let json = result.answer
            #expect(result.keys == ["access_token", "expires_in", "refresh_token", "openid", "scope", "unionid"])
            #expect(json.expiresIn == 7200)
            #expect(json.openid == minted.openid)
            #expect(json.accessToken != json.refreshToken)
        }
    }

    @Test("snsapi_base gives no unionid")
    func baseHasNoUnionid() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let token = try await signIn(sandbox, scope: "snsapi_base").answer
            #expect(token.unionid == nil)
            #expect(token.scope == "snsapi_base")
        }
    }

    @Test("codes are single use (40163), unknown (40029), bound to their app, and expire (42003)")
    func codeLifecycle() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let code = try await sandbox.authorize(user: "alice")
            #expect(try await sandbox.exchangeWebCode(code).errcode == nil)
            #expect(try await sandbox.exchangeWebCode(code).errcode == 40163)
            #expect(try await sandbox.exchangeWebCode("nope").errcode == 40029)

            let foreign = try await sandbox.authorize(user: "alice")
            #expect(try await sandbox.exchangeWebCode(foreign, app: Sandbox.website).errcode == 40029)
            #expect(try await sandbox.exchangeWebCode(foreign).errcode == 40163)

            let late = try await sandbox.authorize(user: "alice")
            sandbox.clock.advance(by: 301)
            #expect(try await sandbox.exchangeWebCode(late).errcode == 42003)

            let qr = try await sandbox.authorize(user: "alice", app: Sandbox.website, scope: "snsapi_login")
            sandbox.clock.advance(by: 599)
            #expect(try await sandbox.exchangeWebCode(qr, app: Sandbox.website).errcode == nil)
        }
    }

    @Test("web and mini-program codes do not mix (40029)")
    func codesDoNotMix() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let mini = try await sandbox.newCode()
            #expect(try await sandbox.exchangeWebCode(mini, app: Sandbox.appA).errcode == 40029)
            let web = try await sandbox.authorize(user: "alice")
            let session = try await sandbox.exchange(
                code: web,
                appid: Sandbox.officialAccount.appid,
                secret: Sandbox.officialAccount.secret
            )
            #expect(session.errcode == 40029)
        }
    }

    @Test(
        "credentials and parameters are checked first",
        arguments: [
            ("/sns/oauth2/access_token?appid=wx00000000000000c3&code=c&grant_type=authorization_code", 41004),
            ("/sns/oauth2/access_token?secret=s&code=c&grant_type=authorization_code", 41002),
            ("/sns/oauth2/access_token?appid=wx00000000000000c3&secret=s&grant_type=authorization_code", 41008),
            ("/sns/oauth2/access_token?appid=wxnope&secret=s&code=c&grant_type=authorization_code", 40013),
            (
                "/sns/oauth2/access_token?appid=wx00000000000000c3&secret=wrong&code=c&grant_type=authorization_code",
                40125
            ),
            (
                "/sns/oauth2/access_token?appid=wx00000000000000c3&secret=secret-oa-0123456789abcdef0123456&code=c"
                    + "&grant_type=client_credential", 40002
            ),
            ("/sns/oauth2/refresh_token?grant_type=refresh_token&refresh_token=r", 41002),
            ("/sns/oauth2/refresh_token?appid=wx00000000000000c3&grant_type=refresh_token", 41003),
            ("/sns/oauth2/refresh_token?appid=wxnope&grant_type=refresh_token&refresh_token=r", 40013),
            ("/sns/oauth2/refresh_token?appid=wx00000000000000c3&grant_type=authorization_code&refresh_token=r", 40002),
        ]
    )
    func parameterRefusals(_ pathAndQuery: String, _ errcode: Int) async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let result = try await sandbox.get(pathAndQuery)
            #expect(result.errcode == errcode)
        }
    }

    @Test("one person, one unionid: a mini-program and an official account agree; openids differ")
    func unionidAcrossApps() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let miniCode = try await sandbox.newCode(user: "alice")
            let session = try await sandbox.exchange(code: miniCode).answer
            let web = try await signIn(sandbox).answer
            let qr = try await sandbox.exchangeWebCode(
                try await sandbox.authorize(user: "alice", app: Sandbox.website, scope: "snsapi_login"),
                app: Sandbox.website
            ).answer
            let unionid = try #require(session.unionid)
            #expect(web.unionid == unionid)
            #expect(qr.unionid == unionid)
            let openids = Set([session.openid, web.openid, qr.openid].compactMap { $0 })
            #expect(openids.count == 3)
        }
    }

    // MARK: Refresh

    @Test("refresh before expiry extends the token; after, a new one; the refresh token stays and dies at 30 days")
    func refresh() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let (access, refresh, openid) = try await signIn(sandbox).tokens

            sandbox.clock.advance(by: 7000)
            let extended = try await sandbox.refreshWebToken(refresh).answer
            #expect(extended.accessToken == access)
            #expect(extended.expiresIn == 7200)
            #expect(extended.refreshToken == refresh)
            #expect(extended.openid == openid)
            #expect(extended.scope == "snsapi_userinfo")
            #expect(extended.unionid == nil)
            sandbox.clock.advance(by: 7000)
            #expect(try await sandbox.checkAuth(access, openid: openid).errcode == 0)

            sandbox.clock.advance(by: 300)
            #expect(try await sandbox.checkAuth(access, openid: openid).errcode == 42001)
            let renewed = try await sandbox.refreshWebToken(refresh).answer
            let fresh = try #require(renewed.accessToken)
            #expect(fresh != access)
            #expect(try await sandbox.userInfo(fresh, openid: openid).errcode == nil)

            #expect(try await sandbox.refreshWebToken(refresh, app: Sandbox.website).errcode == 40030)
            #expect(try await sandbox.refreshWebToken("nope").errcode == 40030)
            sandbox.clock.advance(by: 30 * 86400)
            #expect(try await sandbox.refreshWebToken(refresh).errcode == 42002)
        }
    }

    // MARK: Token check and profile

    @Test("sns/auth: 0 ok, 40003 wrong openid, 40001 unknown token, 42001 expired, 41001 missing")
    func auth() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let (access, _, openid) = try await signIn(sandbox).tokens
            let ok = try await sandbox.checkAuth(access, openid: openid)
            #expect(ok.errcode == 0)
            #expect(ok.answer.errmsg == "ok")
            #expect(try await sandbox.checkAuth(access, openid: "oSomeoneElse").errcode == 40003)
            #expect(try await sandbox.checkAuth("nope", openid: openid).errcode == 40001)
            #expect(try await sandbox.get("/sns/auth?openid=\(openid)").errcode == 41001)
            sandbox.clock.advance(by: 7201)
            #expect(try await sandbox.checkAuth(access, openid: openid).errcode == 42001)
        }
    }

    @Test("userinfo: the test user's profile, localised; 48001 for snsapi_base")
    func userInfo() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let (access, _, openid) = try await signIn(sandbox, user: "alice").tokens
            let result = try await sandbox.userInfo(access, openid: openid)
            #expect(result.status == 200)
            let profile = result.answer
            #expect(profile.openid == openid)
            #expect(profile.nickname == "alice")
            #expect(profile.sex == 1)
            #expect(profile.country == "中国")
            #expect(profile.city == "广州")
            #expect(profile.headimgurl == TestUsers.avatarURL(user: "alice"))
            #expect(profile.privilege?.isEmpty == true)
            #expect(profile.unionid == TestUsers.unionid(user: "alice"))
            #expect(
                try await sandbox.userInfo(access, openid: openid, lang: "en").answer.country == "China"
            )

            let baseToken = try await signIn(sandbox, scope: "snsapi_base").access
            #expect(try await sandbox.userInfo(baseToken, openid: openid).errcode == 48001)
            #expect(try await sandbox.userInfo("nope", openid: openid).errcode == 40001)
            #expect(try await sandbox.userInfo(access, openid: "oOther").errcode == 40003)
            sandbox.clock.advance(by: 7201)
            #expect(try await sandbox.userInfo(access, openid: openid).errcode == 42001)
        }
    }

    // MARK: Faults

    @Test("faults apply to the web endpoints; a faulted exchange does not spend the code; calls are counted")
    func faults() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            try await sandbox.addFault(#"{"endpoint": "/sns/oauth2/access_token", "errcode": -1}"#)
            try await sandbox.addFault(#"{"endpoint": "/sns/userinfo", "status": 502}"#)
            let code = try await sandbox.authorize(user: "alice")
            #expect(try await sandbox.exchangeWebCode(code).errcode == -1)
            let token = try await sandbox.exchangeWebCode(code).answer
            let access = try #require(token.accessToken)
            let openid = try #require(token.openid)
            #expect(try await sandbox.userInfo(access, openid: openid).status == 502)
            #expect(try await sandbox.userInfo(access, openid: openid).status == 200)

            let calls = try await sandbox.calls()
            #expect(calls["/sns/oauth2/access_token"] == 2)
            #expect(calls["/sns/userinfo"] == 2)
            #expect(calls["/sns/oauth2/refresh_token"] == 0)
            #expect(calls["/sns/auth"] == 0)
        }
    }

    // MARK: The client against the sandbox

    @Test("WeChatClient signs in, reads the profile, refreshes and checks against the sandbox")
    func clientRoundTrip() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let client = WeChatClient(
                apiBase: sandbox.server.baseURL,
                transport: WireTransport(),
                logger: Logger(label: "test")
            )
            let app = Sandbox.officialAccount
            let deadline = ContinuousClock.now + .seconds(10)
            let url = try WebAuthorizeURL.officialAccount(
                openBase: sandbox.server.baseURL,
                appid: app.appid,
                redirectURI: "https://app.example/cb?return_to=/x",
                scope: .userinfo,
                state: "abc123"
            )
            let path = String(try #require(url.split(separator: "#").first).dropFirst(sandbox.server.baseURL.count))
            let page = try await sandbox.get(path)
            #expect(page.status == 200)
            #expect(page.text.contains("value=\"https://app.example/cb?return_to=/x\""))

            let code = try await sandbox.authorize(user: "alice")
            let token = try await client.exchangeWebCode(
                appid: app.appid,
                secret: Secret(app.secret),
                code: code,
                deadline: deadline
            )
            #expect(token.allowsUserInfo)
            #expect(!token.isSnapshotUser)
            let info = try await client.webUserInfo(
                accessToken: token.accessToken,
                openid: token.openid,
                deadline: deadline
            )
            #expect(info.nickname == "alice")
            #expect(info.unionid == token.unionid)
            #expect(
                try await client.checkWebToken(accessToken: token.accessToken, openid: token.openid, deadline: deadline)
            )

            let used = await #expect(throws: WeChatError.self) {
                try await client.exchangeWebCode(
                    appid: app.appid,
                    secret: Secret(app.secret),
                    code: code,
                    deadline: deadline
                )
            }
            #expect(used?.errcode == 40163)
            #expect(used?.category == .invalidCode)

            sandbox.clock.advance(by: 7201)
            let expired = await #expect(throws: WeChatError.self) {
                try await client.webUserInfo(accessToken: token.accessToken, openid: token.openid, deadline: deadline)
            }
            #expect(expired?.category == .userTokenInvalid)
            let refreshed = try await client.refreshWebToken(
                appid: app.appid,
                refreshToken: token.refreshToken,
                deadline: deadline
            )
            #expect(refreshed.refreshToken == token.refreshToken)
            #expect(
                try await client.webUserInfo(
                    accessToken: refreshed.accessToken,
                    openid: token.openid,
                    deadline: deadline
                ).openid == token.openid
            )

            let snapshot = try await client.exchangeWebCode(
                appid: app.appid,
                secret: Secret(app.secret),
                code: try await sandbox.authorize(user: "bob", snapshot: true),
                deadline: deadline
            )
            #expect(snapshot.isSnapshotUser)
        }
    }
}
