import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import WeChatSandbox

/// The apps and helpers of the web-authorisation tests: an official account and a website app next
/// to the mini-programs, all of one open platform.
extension Sandbox {
    static let officialAccount = SandboxApp(
        appid: "wx00000000000000c3",
        secret: "secret-oa-0123456789abcdef0123456",
        kind: .officialAccount
    )
    static let website = SandboxApp(
        appid: "wx00000000000000d4",
        secret: "secret-web-0123456789abcdef012345",
        kind: .website
    )
    static let allKinds = [appA, appB, officialAccount, website]
    static let callback = "https://app.example/callback"

    /// A client that does not follow redirects, so a test sees the 302 and its Location.
    private static let browser = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow)
    )

    /// Opens an authorize page (`/connect/oauth2/authorize` or `/connect/qrconnect`) with `query`.
    func page(_ path: String, _ query: [(String, String)]) async throws -> HTTPResult {
        try await self.browse(.GET, path + "?" + Self.formEncode(query))
    }

    /// Submits the consent form of `path` with `fields`, as a browser would.
    func submit(_ path: String, _ fields: [(String, String)]) async throws -> HTTPResult {
        try await self.browse(.POST, path, form: Self.formEncode(fields))
    }

    /// The parameters of a valid authorize request; `overrides` replace or add fields.
    static func authorizeQuery(
        app: SandboxApp = officialAccount,
        scope: String = "snsapi_userinfo",
        state: String = "St4te",
        redirectURI: String = callback,
        _ overrides: [(String, String)] = []
    ) -> [(String, String)] {
        var fields = [
            ("appid", app.appid), ("redirect_uri", redirectURI), ("response_type", "code"), ("scope", scope),
            ("state", state),
        ]
        for (name, value) in overrides {
            fields.removeAll { $0.0 == name }
            fields.append((name, value))
        }
        return fields
    }

    /// Approves the official-account page for `user` and returns the code from the redirect.
    func authorize(
        user: String,
        app: SandboxApp = officialAccount,
        scope: String = "snsapi_userinfo",
        snapshot: Bool = false
    ) async throws -> String {
        let path = app.kind == .website ? "/connect/qrconnect" : "/connect/oauth2/authorize"
        var fields = Self.authorizeQuery(app: app, scope: scope) + [("nickname", user), ("decision", "approve")]
        if snapshot { fields.append(("snapshot", "1")) }
        let result = try await self.submit(path, fields)
        guard result.status == 302, let code = result.location?.queryItem("code") else {
            throw UnexpectedAnswer(result: result)
        }
        return code
    }

    /// Mints a web code through the control API and returns its JSON.
    func mintWebCode(_ json: String) async throws -> SandboxAnswer {
        let result = try await self.post("/sandbox/web-codes", json: json)
        guard result.status == 201 else { throw UnexpectedAnswer(result: result) }
        return try result.decoded()
    }

    /// Calls `/sns/oauth2/access_token` as an official account's or website app's backend does.
    func exchangeWebCode(_ code: String, app: SandboxApp = officialAccount) async throws -> HTTPResult {
        try await self.get(
            "/sns/oauth2/access_token?"
                + Self.formEncode([
                    ("appid", app.appid), ("secret", app.secret), ("code", code), ("grant_type", "authorization_code"),
                ])
        )
    }

    func refreshWebToken(_ token: String, app: SandboxApp = officialAccount) async throws -> HTTPResult {
        try await self.get(
            "/sns/oauth2/refresh_token?"
                + Self.formEncode([
                    ("appid", app.appid), ("grant_type", "refresh_token"), ("refresh_token", token),
                ])
        )
    }

    func userInfo(_ token: String, openid: String, lang: String? = nil) async throws -> HTTPResult {
        var query = [("access_token", token), ("openid", openid)]
        if let lang { query.append(("lang", lang)) }
        return try await self.get("/sns/userinfo?" + Self.formEncode(query))
    }

    func checkAuth(_ token: String, openid: String) async throws -> HTTPResult {
        try await self.get("/sns/auth?" + Self.formEncode([("access_token", token), ("openid", openid)]))
    }

    static func formEncode(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
    }

    private func browse(_ method: HTTPMethod, _ pathAndQuery: String, form: String? = nil) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: self.server.baseURL + pathAndQuery)
        request.method = method
        if let form {
            request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: form))
        }
        let response = try await Self.browser.execute(request, timeout: .seconds(10))
        let buffer = try await response.body.collect(upTo: 1 << 20)
        return HTTPResult(
            status: Int(response.status.code),
            headers: response.headers,
            body: Data(buffer.readableBytesView)
        )
    }
}

extension HTTPResult {
    var location: String? { self.headers.first(name: "location") }
}

extension String {
    /// The value of query parameter `name` in this URL, if present.
    func queryItem(_ name: String) -> String? {
        URLComponents(string: self)?.queryItems?.first { $0.name == name }?.value
    }
}
