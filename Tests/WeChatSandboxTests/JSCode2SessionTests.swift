import Foundation
import Testing
import WeChatSandbox

@Suite("jscode2session behaves like WeChat")
struct JSCode2SessionTests {
    @Test("success: text/plain, session_key, openid, unionid, no errcode")
    func successShape() async throws {
        try await Sandbox.with { sandbox in
            let minted = try await sandbox.mintCode()
            let code = try #require(minted.code)
            let result = try await sandbox.exchange(code: code)

            #expect(result.status == 200)
            #expect(result.contentType.hasPrefix("text/plain"))
            let json = result.answer
            #expect(json.errcode == nil)
            #expect(result.keys == ["session_key", "openid", "unionid"])
            #expect(json.openid == minted.openid)
            #expect(json.unionid == minted.unionid)

            let sessionKey = try #require(json.sessionKey)
            #expect(Data(base64Encoded: sessionKey)?.count == 16)
            let openid = try #require(json.openid)
            #expect(openid.count == 28 && openid.hasPrefix("o"))
        }
    }

    @Test("a code is minted in WeChat's shape")
    func codeShape() async throws {
        try await Sandbox.with { sandbox in
            let code = try await sandbox.newCode()
            #expect(code.count == 32)
            #expect(code.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        }
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var name: String
        var appid: String?
        var secret: String?
        var code: String?
        var grantType: String?
        var errcode: Int
        var testDescription: String { self.name }
    }

    static let errorCases: [ErrorCase] = [
        .init(
            name: "missing appid",
            appid: nil,
            secret: Sandbox.appA.secret,
            code: "x",
            grantType: "authorization_code",
            errcode: 41002
        ),
        .init(
            name: "empty appid",
            appid: "",
            secret: Sandbox.appA.secret,
            code: "x",
            grantType: "authorization_code",
            errcode: 41002
        ),
        .init(
            name: "missing secret",
            appid: Sandbox.appA.appid,
            secret: nil,
            code: "x",
            grantType: "authorization_code",
            errcode: 41004
        ),
        .init(
            name: "missing js_code",
            appid: Sandbox.appA.appid,
            secret: Sandbox.appA.secret,
            code: nil,
            grantType: "authorization_code",
            errcode: 41008
        ),
        .init(
            name: "unknown appid",
            appid: "wxunknown",
            secret: Sandbox.appA.secret,
            code: "x",
            grantType: "authorization_code",
            errcode: 40013
        ),
        .init(
            name: "wrong secret",
            appid: Sandbox.appA.appid,
            secret: Sandbox.appB.secret,
            code: "x",
            grantType: "authorization_code",
            errcode: 40125
        ),
        .init(
            name: "wrong grant_type",
            appid: Sandbox.appA.appid,
            secret: Sandbox.appA.secret,
            code: "x",
            grantType: "client_credential",
            errcode: 40002
        ),
        .init(
            name: "missing grant_type",
            appid: Sandbox.appA.appid,
            secret: Sandbox.appA.secret,
            code: "x",
            grantType: nil,
            errcode: 40002
        ),
        .init(
            name: "unknown code",
            appid: Sandbox.appA.appid,
            secret: Sandbox.appA.secret,
            code: "x",
            grantType: "authorization_code",
            errcode: 40029
        ),
    ]

    @Test("each malformed request gets WeChat's errcode, HTTP 200, JSON", arguments: errorCases)
    func errorCodes(_ errorCase: ErrorCase) async throws {
        try await Sandbox.with { sandbox in
            let result = try await sandbox.exchange(
                code: errorCase.code,
                appid: errorCase.appid,
                secret: errorCase.secret,
                grantType: errorCase.grantType
            )
            #expect(result.status == 200)
            #expect(result.contentType.hasPrefix("application/json"))
            #expect(result.errcode == errorCase.errcode)
            let errmsg = try #require(result.answer.errmsg)
            #expect(errmsg.contains("rid: "))
        }
    }

    @Test("a checked-out code with bad credentials is not spent")
    func credentialErrorsKeepTheCode() async throws {
        try await Sandbox.with { sandbox in
            let code = try await sandbox.newCode()
            #expect(try await sandbox.exchange(code: code, secret: "wrong").errcode == 40125)
            #expect(try await sandbox.exchange(code: code, grantType: "nope").errcode == 40002)
            #expect(try await sandbox.exchange(code: code).errcode == nil)
        }
    }

    @Test("a code works once, then 40163 code been used")
    func singleUse() async throws {
        try await Sandbox.with { sandbox in
            let code = try await sandbox.newCode()
            #expect(try await sandbox.exchange(code: code).errcode == nil)
            let second = try await sandbox.exchange(code: code)
            #expect(second.errcode == 40163)
            #expect((second.answer.errmsg)?.hasPrefix("code been used") == true)
        }
    }

    @Test("a code expires after 5 minutes of the sandbox clock: 40029")
    func expiry() async throws {
        try await Sandbox.with { sandbox in
            let stale = try await sandbox.newCode()
            sandbox.clock.advance(by: 299)
            let fresh = try await sandbox.newCode()
            #expect(try await sandbox.exchange(code: stale).errcode == nil)

            let late = try await sandbox.newCode()
            sandbox.clock.advance(by: 301)
            #expect(try await sandbox.exchange(code: late).errcode == 40029)
            #expect(try await sandbox.exchange(code: fresh).errcode == 40029)
        }
    }

    @Test("a code minted for one app is invalid for another")
    func codeBoundToApp() async throws {
        try await Sandbox.with { sandbox in
            let code = try await sandbox.newCode(app: Sandbox.appA)
            let result = try await sandbox.exchange(code: code, appid: Sandbox.appB.appid, secret: Sandbox.appB.secret)
            #expect(result.errcode == 40029)
        }
    }

    @Test("unionid is the same in every app, openid is per app")
    func unionidAcrossApps() async throws {
        try await Sandbox.with { sandbox in
            let codeA = try await sandbox.newCode(app: Sandbox.appA, user: "bob")
            let codeB = try await sandbox.newCode(app: Sandbox.appB, user: "bob")
            let inA = try await sandbox.exchange(code: codeA).answer
            let inB = try await sandbox.exchange(code: codeB, appid: Sandbox.appB.appid, secret: Sandbox.appB.secret)
                .answer

            let unionid = try #require(inA.unionid)
            #expect(unionid.count == 28 && unionid.hasPrefix("o"))
            #expect(inB.unionid == unionid)
            #expect(inA.openid != inB.openid)
        }
    }

    @Test("ids are stable across sandboxes")
    func idsStableAcrossRuns() async throws {
        var seen: [String] = []
        for _ in 0..<2 {
            try await Sandbox.with { sandbox in
                let code = try await sandbox.newCode(user: "carol")
                let json = try await sandbox.exchange(code: code).answer
                seen.append("\(json.openid ?? "")/\(json.unionid ?? "")")
            }
        }
        #expect(seen.count == 2 && seen[0] == seen[1])
    }

    @Test("unionid is omitted for a code minted with unionid false")
    func unionidOmitted() async throws {
        try await Sandbox.with { sandbox in
            let minted = try await sandbox.mintCode(unionid: false)
            #expect(minted.unionid == nil)
            let code = try #require(minted.code)
            let result = try await sandbox.exchange(code: code)
            #expect(result.answer.openid != nil)
            #expect(result.keys.contains("unionid") == false)
        }
    }

    @Test("each exchange gives a fresh session_key; the control API reports the latest")
    func latestSessionKey() async throws {
        try await Sandbox.with { sandbox in
            var keys: [String] = []
            var openid = ""
            for _ in 0..<2 {
                let code = try await sandbox.newCode(user: "dave")
                let json = try await sandbox.exchange(code: code).answer
                keys.append(try #require(json.sessionKey))
                openid = try #require(json.openid)
            }
            #expect(keys[0] != keys[1])
            let session = try await sandbox.get("/sandbox/sessions?appid=\(Sandbox.appA.appid)&openid=\(openid)")
            #expect(session.status == 200)
            #expect(session.answer.sessionKey == keys[1])

            let unknown = try await sandbox.get("/sandbox/sessions?appid=\(Sandbox.appA.appid)&openid=nobody")
            #expect(unknown.status == 404)
        }
    }

    @Test(
        "paths are case-sensitive; unknown paths answer 40066 with HTTP 200",
        arguments: [
            "/sns/jsCode2Session", "/sns/nothing", "/", "/sandbox/unknown",
        ]
    )
    func invalidURL(_ path: String) async throws {
        try await Sandbox.with { sandbox in
            let result = try await sandbox.get(path + "?appid=\(Sandbox.appA.appid)")
            #expect(result.status == 200)
            #expect(result.errcode == 40066)
            #expect((result.answer.errmsg)?.hasPrefix("invalid url") == true)
        }
    }
}
