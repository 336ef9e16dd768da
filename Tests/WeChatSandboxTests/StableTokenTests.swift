import Foundation
import Testing
import WeChatSandbox

extension Sandbox {
    /// Calls stable_token the way a backend does.
    func stableToken(app: SandboxApp = appA, forceRefresh: Bool? = nil) async throws -> HTTPResult {
        var fields = [#""grant_type":"client_credential""#, #""appid":"\#(app.appid)""#, #""secret":"\#(app.secret)""#]
        if let forceRefresh { fields.append(#""force_refresh":\#(forceRefresh)"#) }
        return try await self.post("/cgi-bin/stable_token", json: "{\(fields.joined(separator: ","))}")
    }

    /// The access_token of a successful stable_token answer.
    func token(app: SandboxApp = appA, forceRefresh: Bool? = nil) async throws -> String {
        let result = try await self.stableToken(app: app, forceRefresh: forceRefresh)
        guard let token = result.answer.accessToken else { throw UnexpectedAnswer(result: result) }
        return token
    }

    /// Calls getuserphonenumber; `code: nil` sends an empty object.
    func phoneNumber(token: String?, code: String?) async throws -> HTTPResult {
        let query = token.map { "?access_token=\($0)" } ?? ""
        let body = code.map { #"{"code":"\#($0)"}"# } ?? "{}"
        return try await self.post("/wxa/business/getuserphonenumber" + query, json: body)
    }

    /// Whether WeChat would accept `token`: an unknown phone code then gives 40029, not a token error.
    func accepts(token: String) async throws -> Bool {
        let errcode = try await self.phoneNumber(token: token, code: "unknown").errcode
        return errcode == 40029
    }

    /// A newly minted phone code (``mintPhoneCode(app:user:extra:)``).
    func newPhoneCode(app: SandboxApp = appA, user: String = "alice", extra: String = "") async throws -> String {
        try #require(try await self.mintPhoneCode(app: app, user: user, extra: extra).code)
    }

    /// Mints a phone code through the control API.
    func mintPhoneCode(app: SandboxApp = appA, user: String = "alice", extra: String = "") async throws -> SandboxAnswer
    {
        let result = try await self.post(
            "/sandbox/phone-codes",
            json: #"{"appid":"\#(app.appid)","user":"\#(user)"\#(extra)}"#
        )
        guard result.status == 201 else { throw UnexpectedAnswer(result: result) }
        return try result.decoded()
    }
}

@Suite("stable_token behaves like WeChat")
struct StableTokenTests {
    @Test("normal mode hands out the same token, counting down, until its last 5 minutes")
    func sameTokenUntilTheLastFiveMinutes() async throws {
        try await Sandbox.with { sandbox in
            let first = try await sandbox.stableToken()
            #expect(first.status == 200)
            #expect(first.contentType.hasPrefix("application/json"))
            #expect(first.keys == ["access_token", "expires_in"])
            #expect(first.answer.expiresIn == 7200)
            let token = try #require(first.answer.accessToken)
            #expect(token.count > 100)

            sandbox.clock.advance(by: 1000)
            let later = try await sandbox.stableToken(forceRefresh: false)
            #expect(later.answer.accessToken == token)
            #expect(later.answer.expiresIn == 6200)

            sandbox.clock.advance(by: 5900)  // 300 s left: still the same
            #expect(try await sandbox.stableToken().answer.accessToken == token)
            #expect(try await sandbox.stableToken().answer.expiresIn == 300)

            sandbox.clock.advance(by: 1)  // 299 s left: a new token, the old one works until it expires
            let renewed = try await sandbox.stableToken()
            let fresh = try #require(renewed.answer.accessToken)
            #expect(fresh != token)
            #expect(renewed.answer.expiresIn == 7200)
            #expect(try await sandbox.accepts(token: token))
            #expect(try await sandbox.accepts(token: fresh))

            sandbox.clock.advance(by: 299)
            #expect(try await sandbox.phoneNumber(token: token, code: "x").errcode == 40001)
            #expect(try await sandbox.accepts(token: fresh))
        }
    }

    @Test("each app has its own token")
    func tokensPerApp() async throws {
        try await Sandbox.with { sandbox in
            let a = try await sandbox.token(app: Sandbox.appA)
            let b = try await sandbox.token(app: Sandbox.appB)
            #expect(a != b)
        }
    }

    @Test("force_refresh issues a new token at once; the old one lives 5 more minutes")
    func forceRefresh() async throws {
        try await Sandbox.with { sandbox in
            let old = try await sandbox.token()
            let forced = try await sandbox.stableToken(forceRefresh: true)
            let new = try #require(forced.answer.accessToken)
            #expect(new != old)
            #expect(forced.answer.expiresIn == 7200)
            #expect(try await sandbox.token() == new)

            sandbox.clock.advance(by: 299)
            #expect(try await sandbox.accepts(token: old))
            sandbox.clock.advance(by: 1)
            let refused = try await sandbox.phoneNumber(token: old, code: "x")
            #expect(refused.errcode == 40001)
            #expect(
                (refused.answer.errmsg)?.hasPrefix(
                    "invalid credential, access_token is invalid or not latest"
                ) == true
            )
            #expect(try await sandbox.accepts(token: new))
        }
    }

    @Test("force_refresh: at least 30 s apart (45011), 20 a day (45009), reset the next day")
    func forceRefreshLimits() async throws {
        try await Sandbox.with { sandbox in
            // Start just after midnight Beijing time, so 20 refreshes 30 s apart stay in one day.
            sandbox.clock.set(Date(timeIntervalSince1970: 1_699_977_600 + 60))  // 2023-11-15 00:01 in Beijing
            _ = try await sandbox.token(forceRefresh: true)
            sandbox.clock.advance(by: 29)
            #expect(try await sandbox.stableToken(forceRefresh: true).errcode == 45011)
            // Normal mode is not limited by it.
            #expect(try await sandbox.stableToken().errcode == nil)
            sandbox.clock.advance(by: 1)
            _ = try await sandbox.token(forceRefresh: true)
            for _ in 3...20 {
                sandbox.clock.advance(by: 30)
                _ = try await sandbox.token(forceRefresh: true)
            }
            sandbox.clock.advance(by: 30)
            let quota = try await sandbox.stableToken(forceRefresh: true)
            #expect(quota.errcode == 45009)
            #expect((quota.answer.errmsg)?.hasPrefix("reach max api daily quota limit") == true)
            // The other app has its own quota.
            #expect(try await sandbox.stableToken(app: Sandbox.appB, forceRefresh: true).errcode == nil)

            sandbox.clock.advance(by: 86400)
            #expect(try await sandbox.stableToken(forceRefresh: true).errcode == nil)
        }
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var name: String
        var body: String
        var errcode: Int
        var testDescription: String { self.name }
    }

    static let errorCases: [ErrorCase] = [
        .init(name: "missing appid", body: #"{"grant_type":"client_credential","secret":"s"}"#, errcode: 41002),
        .init(
            name: "missing secret",
            body: #"{"grant_type":"client_credential","appid":"\#(Sandbox.appA.appid)"}"#,
            errcode: 41004
        ),
        .init(
            name: "unknown appid",
            body: #"{"grant_type":"client_credential","appid":"wxunknown","secret":"s"}"#,
            errcode: 40013
        ),
        .init(
            name: "wrong secret",
            body:
                #"{"grant_type":"client_credential","appid":"\#(Sandbox.appA.appid)","secret":"\#(Sandbox.appB.secret)"}"#,
            errcode: 40125
        ),
        .init(
            name: "wrong grant_type",
            body:
                #"{"grant_type":"authorization_code","appid":"\#(Sandbox.appA.appid)","secret":"\#(Sandbox.appA.secret)"}"#,
            errcode: 40002
        ),
        .init(
            name: "missing grant_type",
            body: #"{"appid":"\#(Sandbox.appA.appid)","secret":"\#(Sandbox.appA.secret)"}"#,
            errcode: 40002
        ),
        .init(name: "not JSON", body: "appid=wx&secret=s", errcode: 47001),
        .init(
            name: "force_refresh not a boolean",
            body:
                #"{"grant_type":"client_credential","appid":"\#(Sandbox.appA.appid)","secret":"\#(Sandbox.appA.secret)","force_refresh":"yes"}"#,
            errcode: 47001
        ),
    ]

    @Test("each malformed request gets WeChat's errcode, HTTP 200, JSON", arguments: errorCases)
    func errorCodes(_ errorCase: ErrorCase) async throws {
        try await Sandbox.with { sandbox in
            let result = try await sandbox.post("/cgi-bin/stable_token", json: errorCase.body)
            #expect(result.status == 200)
            #expect(result.errcode == errorCase.errcode)
            #expect((result.answer.errmsg)?.contains("rid: ") == true)
        }
    }

    @Test("GET is refused with 43002; calls are counted and can be faulted")
    func getCountsAndFaults() async throws {
        try await Sandbox.with { sandbox in
            #expect(try await sandbox.get("/cgi-bin/stable_token").errcode == 43002)
            try await sandbox.addFault(#"{"endpoint": "/cgi-bin/stable_token", "errcode": -1}"#)
            #expect(try await sandbox.stableToken().errcode == -1)
            #expect(try await sandbox.stableToken().errcode == nil)
            let calls = try await sandbox.calls()
            #expect(calls["/cgi-bin/stable_token"] == 3)
            #expect(calls["/wxa/business/getuserphonenumber"] == 0)
        }
    }
}

@Suite("getuserphonenumber behaves like WeChat")
struct PhoneNumberTests {
    @Test("a phone code gives the number in WeChat's shape, once")
    func success() async throws {
        try await Sandbox.with { sandbox in
            let minted = try await sandbox.mintPhoneCode()
            let code = try #require(minted.code)
            #expect(code.count == 64)
            let token = try await sandbox.token()

            let result = try await sandbox.phoneNumber(token: token, code: code)
            #expect(result.status == 200)
            #expect(result.errcode == 0)
            #expect(result.answer.errmsg == "ok")
            let info = try #require(result.answer.phoneInfo)
            #expect(info.phoneNumber == "13800138000")
            #expect(info.purePhoneNumber == "13800138000")
            #expect(info.countryCode == "86")
            let watermark = try #require(info.watermark)
            #expect(watermark.appid == Sandbox.appA.appid)
            #expect(watermark.timestamp == Int(sandbox.clock.now().timeIntervalSince1970))

            #expect(try await sandbox.phoneNumber(token: token, code: code).errcode == 40029)
        }
    }

    @Test("a foreign number carries its country code")
    func foreignNumber() async throws {
        try await Sandbox.with { sandbox in
            let code = try await sandbox.newPhoneCode(extra: #","phone":"4155550100","countryCode":"1""#)
            let answer = try await sandbox.phoneNumber(token: try await sandbox.token(), code: code).answer
            let phone = try #require(answer.phoneInfo)
            #expect(phone.phoneNumber == "+14155550100")
            #expect(phone.purePhoneNumber == "4155550100")
            #expect(phone.countryCode == "1")
        }
    }

    @Test("codes expire after 5 minutes and belong to one app")
    func expiryAndApp() async throws {
        try await Sandbox.with { sandbox in
            let stale = try await sandbox.newPhoneCode()
            let foreign = try await sandbox.newPhoneCode(app: Sandbox.appB)
            sandbox.clock.advance(by: 301)
            let token = try await sandbox.token()
            #expect(try await sandbox.phoneNumber(token: token, code: stale).errcode == 40029)
            let fresh = try await sandbox.newPhoneCode(app: Sandbox.appB)
            #expect(try await sandbox.phoneNumber(token: token, code: fresh).errcode == 40029)
            #expect(try await sandbox.phoneNumber(token: token, code: foreign).errcode == 40029)
        }
    }

    @Test("the token must be a live stable token")
    func tokenChecks() async throws {
        try await Sandbox.with { sandbox in
            let code = try await sandbox.newPhoneCode()
            #expect(try await sandbox.phoneNumber(token: nil, code: code).errcode == 41001)
            #expect(try await sandbox.phoneNumber(token: "90_made_up", code: code).errcode == 40001)
            let token = try await sandbox.token()
            sandbox.clock.advance(by: 7200)
            #expect(try await sandbox.phoneNumber(token: token, code: code).errcode == 42001)
            // Token refusals leave the code unspent.
            sandbox.clock.set(sandbox.clock.now().addingTimeInterval(-7200))
            #expect(try await sandbox.phoneNumber(token: token, code: nil).errcode == 41008)
            #expect(try await sandbox.phoneNumber(token: token, code: code).errcode == 0)
        }
    }

    @Test("the control API refuses malformed phone-code requests")
    func controlRefusals() async throws {
        try await Sandbox.with { sandbox in
            for body in [
                #"{"appid":"wxunknown"}"#, #"{"appid":"\#(Sandbox.appA.appid)","phone":"12ab"}"#,
                #"{"appid":"\#(Sandbox.appA.appid)","countryCode":"+86"}"#,
                #"{"appid":"\#(Sandbox.appA.appid)","user":""}"#,
                #"{"user":"alice"}"#, "not json",
            ] {
                let result = try await sandbox.post("/sandbox/phone-codes", json: body)
                #expect(result.status == 400, "\(body)")
                #expect(result.answer.error != nil)
            }
        }
    }
}
