import Foundation
import Testing

@testable import WeChatSandbox

@Suite("authorize pages behave like WeChat's")
struct AuthorizePageTests {
    static let oaPath = "/connect/oauth2/authorize"
    static let qrPath = "/connect/qrconnect"

    @Test("the consent page lists test users and has stable form ids")
    func consentPage() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            #expect(try await sandbox.post("/sandbox/users", json: #"{"user": "alice"}"#).status == 201)
            #expect(try await sandbox.post("/sandbox/users", json: #"{"user": "<bob & \"co\">"}"#).status == 201)
            let query = Sandbox.authorizeQuery(redirectURI: "https://app.example/cb?a=1&b=\"2\"")
            let result = try await sandbox.page(Self.oaPath, query)
            #expect(result.status == 200)
            #expect(result.contentType == "text/html; charset=utf-8")
            let html = result.text
            for id in [
                "id=\"user\"", "id=\"nickname\"", "id=\"snapshot\"", "id=\"approve\"", "id=\"refuse\"",
                "id=\"consent\"",
            ] {
                #expect(html.contains(id))
            }
            #expect(html.contains("<option value=\"alice\" selected>alice</option>"))
            #expect(html.contains("&lt;bob &amp; &quot;co&quot;&gt;"))
            #expect(!html.contains("<bob"))
            #expect(html.contains("name=\"redirect_uri\" value=\"https://app.example/cb?a=1&amp;b=&quot;2&quot;\""))
            #expect(html.contains("action=\"/connect/oauth2/authorize\""))
        }
    }

    @Test("approve redirects with code and state; the code is the chosen user's")
    func approve() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            _ = try await sandbox.post("/sandbox/users", json: #"{"user": "alice"}"#)
            let fields =
                Sandbox.authorizeQuery(state: "abcXYZ09") + [
                    ("user", "alice"), ("nickname", ""), ("decision", "approve"),
                ]
            let result = try await sandbox.submit(Self.oaPath, fields)
            #expect(result.status == 302)
            let location = try #require(result.location)
            #expect(location.hasPrefix(Sandbox.callback + "?code="))
            #expect(location.hasSuffix("&state=abcXYZ09"))
            let code = try #require(location.queryItem("code"))

            let token = try await sandbox.exchangeWebCode(code).answer
            #expect(token.openid == TestUsers.openid(appid: Sandbox.officialAccount.appid, user: "alice"))
            #expect(token.unionid == TestUsers.unionid(user: "alice"))
            #expect(token.scope == "snsapi_userinfo")
        }
    }

    @Test("the code is appended to a redirect_uri that has a query, before its fragment")
    func callbackURL() {
        #expect(
            AuthorizePages.callbackURL("https://a.example/cb", code: "C", state: "S")
                == "https://a.example/cb?code=C&state=S"
        )
        #expect(
            AuthorizePages.callbackURL("https://a.example/cb?x=1", code: "C", state: "S")
                == "https://a.example/cb?x=1&code=C&state=S"
        )
        #expect(
            AuthorizePages.callbackURL("https://a.example/cb?", code: "C", state: "")
                == "https://a.example/cb?code=C&state="
        )
        #expect(
            AuthorizePages.callbackURL("https://a.example/cb?x=1#f", code: nil, state: "S")
                == "https://a.example/cb?x=1&state=S#f"
        )
    }

    @Test("refuse redirects with the state and no code")
    func refuse() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let fields =
                Sandbox.authorizeQuery(redirectURI: "https://app.example/cb?return_to=%2Fhome") + [
                    ("decision", "refuse")
                ]
            let result = try await sandbox.submit(Self.oaPath, fields)
            #expect(result.status == 302)
            #expect(result.location == "https://app.example/cb?return_to=%2Fhome&state=St4te")
        }
    }

    @Test("a new nickname creates a test user the page then offers")
    func newUser() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let code = try await sandbox.authorize(user: "Zoë 微信")
            let token = try await sandbox.exchangeWebCode(code).answer
            #expect(
                token.openid == TestUsers.openid(appid: Sandbox.officialAccount.appid, user: "Zoë 微信")
            )
            let users = try #require(try await sandbox.get("/sandbox/users").answer.users)
            #expect(users.map { $0.user } == ["Zoë 微信"])
            #expect(try await sandbox.page(Self.oaPath, Sandbox.authorizeQuery()).text.contains(">Zoë 微信</option>"))
        }
    }

    @Test("approving with no user chosen creates a fresh one")
    func anonymousApproval() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let fields = Sandbox.authorizeQuery() + [("user", ""), ("decision", "approve")]
            let result = try await sandbox.submit(Self.oaPath, fields)
            #expect(result.status == 302)
            #expect(result.location?.queryItem("code") != nil)
            let users = try #require(try await sandbox.get("/sandbox/users").answer.users)
            #expect(users.count == 1)
        }
    }

    @Test("a snapshot user gets is_snapshotuser, its own openid and the person's unionid")
    func snapshot() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let real = try await sandbox.exchangeWebCode(try await sandbox.authorize(user: "alice")).answer
            let virtual = try await sandbox.exchangeWebCode(try await sandbox.authorize(user: "alice", snapshot: true))
                .answer
            #expect(virtual.isSnapshotuser == 1)
            #expect(real.isSnapshotuser == nil)
            #expect(virtual.openid != real.openid)
            #expect(virtual.unionid == real.unionid)
        }
    }

    @Test("QR login: website app, snsapi_login, no snapshot option, unionid always")
    func qrConnect() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let query = Sandbox.authorizeQuery(app: Sandbox.website, scope: "snsapi_login")
            let page = try await sandbox.page(Self.qrPath, query)
            #expect(page.status == 200)
            #expect(!page.text.contains("id=\"snapshot\""))
            #expect(page.text.contains("action=\"/connect/qrconnect\""))

            let code = try await sandbox.authorize(
                user: "alice",
                app: Sandbox.website,
                scope: "snsapi_login",
                snapshot: true
            )
            let token = try await sandbox.exchangeWebCode(code, app: Sandbox.website).answer
            #expect(token.scope == "snsapi_login")
            #expect(token.unionid == TestUsers.unionid(user: "alice"))
            #expect(token.openid == TestUsers.openid(appid: Sandbox.website.appid, user: "alice"))
            #expect(token.isSnapshotuser == nil)
        }
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        var name: String
        var path: String
        var fields: [(String, String)]
        var errcode: Int?
        var testDescription: String { self.name }
    }

    static let invalid: [Invalid] = [
        .init(name: "unknown appid", path: oaPath, fields: Sandbox.authorizeQuery([("appid", "wxnope")])),
        .init(name: "missing appid", path: oaPath, fields: Sandbox.authorizeQuery().filter { $0.0 != "appid" }),
        .init(
            name: "website app on authorize",
            path: oaPath,
            fields: Sandbox.authorizeQuery(app: Sandbox.website),
            errcode: 10016
        ),
        .init(
            name: "mini-program on authorize",
            path: oaPath,
            fields: Sandbox.authorizeQuery(app: Sandbox.appA),
            errcode: 10016
        ),
        .init(
            name: "official account on qrconnect",
            path: qrPath,
            fields: Sandbox.authorizeQuery(scope: "snsapi_login"),
            errcode: 10016
        ),
        .init(
            name: "relative redirect_uri",
            path: oaPath,
            fields: Sandbox.authorizeQuery(redirectURI: "/callback"),
            errcode: 10003
        ),
        .init(
            name: "ftp redirect_uri",
            path: oaPath,
            fields: Sandbox.authorizeQuery(redirectURI: "ftp://a.example/cb"),
            errcode: 10003
        ),
        .init(name: "response_type token", path: oaPath, fields: Sandbox.authorizeQuery([("response_type", "token")])),
        .init(
            name: "snsapi_login on authorize",
            path: oaPath,
            fields: Sandbox.authorizeQuery(scope: "snsapi_login"),
            errcode: 10005
        ),
        .init(
            name: "snsapi_userinfo on qrconnect",
            path: qrPath,
            fields: Sandbox.authorizeQuery(app: Sandbox.website, scope: "snsapi_userinfo"),
            errcode: 10005
        ),
        .init(name: "state with a dash", path: oaPath, fields: Sandbox.authorizeQuery(state: "a-b")),
        .init(
            name: "state of 129 characters",
            path: oaPath,
            fields: Sandbox.authorizeQuery(state: String(repeating: "a", count: 129))
        ),
    ]

    @Test("invalid requests get an error page, on GET and on a tampered POST", arguments: invalid)
    func invalidRequests(_ case: Invalid) async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let page = try await sandbox.page(`case`.path, `case`.fields)
            #expect(page.status == 400)
            #expect(page.text.contains("id=\"error\""))
            if let errcode = `case`.errcode {
                #expect(page.text.contains("data-errcode=\"\(errcode)\""))
            }
            let posted = try await sandbox.submit(
                `case`.path,
                `case`.fields + [("decision", "approve"), ("nickname", "eve")]
            )
            #expect(posted.status == 400)
            #expect(posted.location == nil)
        }
    }

    @Test("a registered redirect domain is enforced (10003)")
    func redirectDomain() async throws {
        let app = SandboxApp(appid: "wxdomain", secret: "s", kind: .officialAccount, redirectDomain: "app.example")
        try await Sandbox.with(apps: [app]) { sandbox in
            #expect(try await sandbox.page(Self.oaPath, Sandbox.authorizeQuery(app: app)).status == 200)
            let elsewhere = try await sandbox.page(
                Self.oaPath,
                Sandbox.authorizeQuery(app: app, redirectURI: "https://evil.example/cb")
            )
            #expect(elsewhere.status == 400)
            #expect(elsewhere.text.contains("data-errcode=\"10003\""))
        }
    }

    @Test("a form without a decision, or with a multi-line nickname, is refused")
    func badForms() async throws {
        try await Sandbox.with(apps: Sandbox.allKinds) { sandbox in
            let undecided = try await sandbox.submit(Self.oaPath, Sandbox.authorizeQuery())
            #expect(undecided.status == 400)
            let multiLine = Sandbox.authorizeQuery() + [("nickname", "a\nb"), ("decision", "approve")]
            #expect(try await sandbox.submit(Self.oaPath, multiLine).status == 400)
            let long =
                Sandbox.authorizeQuery() + [("nickname", String(repeating: "x", count: 65)), ("decision", "approve")]
            #expect(try await sandbox.submit(Self.oaPath, long).status == 400)
        }
    }

    @Test("apps registered over the control API carry their kind")
    func registerKinds() async throws {
        try await Sandbox.with(apps: []) { sandbox in
            let registered = try await sandbox.post(
                "/sandbox/apps",
                json: #"{"appid": "wxoalate", "secret": "s", "kind": "oa", "redirect_domain": "app.example"}"#
            )
            #expect(registered.status == 201)
            let app = SandboxApp(appid: "wxoalate", secret: "s", kind: .officialAccount)
            #expect(try await sandbox.page(Self.oaPath, Sandbox.authorizeQuery(app: app)).status == 200)
            #expect(
                try await sandbox.post("/sandbox/apps", json: #"{"appid": "x", "secret": "s", "kind": "tv"}"#).status
                    == 400
            )
        }
    }
}
