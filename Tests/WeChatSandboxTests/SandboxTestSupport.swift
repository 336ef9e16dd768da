import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing
import WeChatSandbox

/// Every JSON answer the sandbox gives, read on the test side: WeChat's (WECHAT.md A1 — jscode2session,
/// stable_token, getuserphonenumber, the web OAuth APIs) and its control API's (`/sandbox/…`). Every field is
/// optional, since each answer has only some of them; one of the wrong JSON type fails the decode.
struct SandboxAnswer: Decodable {
    struct PhoneInfo: Decodable {
        struct Watermark: Decodable {
            var appid: String?
            var timestamp: Int?
        }

        var phoneNumber: String?
        var purePhoneNumber: String?
        var countryCode: String?
        var watermark: Watermark?
    }

    struct User: Decodable {
        var user: String?
    }

    // WeChat's answers
    var errcode: Int?
    var errmsg: String?
    var openid: String?
    var unionid: String?
    var sessionKey: String?
    var accessToken: String?
    var expiresIn: Int?
    var refreshToken: String?
    var scope: String?
    var isSnapshotuser: Int?
    var phoneInfo: PhoneInfo?
    var nickname: String?
    var sex: Int?
    var country: String?
    var city: String?
    var headimgurl: String?
    var privilege: [String]?
    // the control API's
    var ok: Bool?
    var error: String?
    var code: String?
    var appid: String?
    var user: String?
    var snapshot: Bool?
    var users: [User]?
    var encryptedData: String?
    var iv: String?
    var rawData: String?
    var signature: String?

    enum CodingKeys: String, CodingKey {
        case errcode, errmsg, openid, unionid, scope, nickname, sex, country, city, headimgurl, privilege
        case ok, error, code, appid, user, snapshot, users, encryptedData, iv, rawData, signature
        case sessionKey = "session_key"
        case accessToken = "access_token"
        case expiresIn = "expires_in"
        case refreshToken = "refresh_token"
        case isSnapshotuser = "is_snapshotuser"
        case phoneInfo = "phone_info"
    }
}

/// An answer from the sandbox.
struct HTTPResult {
    var status: Int
    var headers: HTTPHeaders
    var body: Data

    var contentType: String { self.headers.first(name: "content-type") ?? "" }
    var text: String { String(decoding: self.body, as: UTF8.self) }

    /// The body decoded as `Body`.
    func decoded<Body: Decodable>(_ type: Body.Type = Body.self) throws -> Body {
        try decodeJSON(type, from: Array(self.body))
    }

    /// The body as an answer; a body that is not one is a test issue (and an empty answer).
    var answer: SandboxAnswer { self.decodedOrIssue(else: SandboxAnswer()) }

    /// The names of the body's members, for the tests that check an answer has exactly WeChat's fields.
    var keys: Set<String> { self.decodedOrIssue(else: JSONObjectKeys(keys: [])).keys }

    private func decodedOrIssue<Body: Decodable>(else empty: Body) -> Body {
        do {
            return try self.decoded()
        } catch {
            Issue.record(error)
            return empty
        }
    }

    /// WeChat's errcode, nil when there is none (or the body is not JSON: a fault's bare HTTP error).
    var errcode: Int? { (try? self.decoded(SandboxAnswer.self))?.errcode }
}

/// A started sandbox and helpers to talk to it like a WeChat client and a test would.
struct Sandbox {
    static let appA = SandboxApp(appid: "wx00000000000000a1", secret: "secret-a-0123456789abcdef01234567")
    static let appB = SandboxApp(appid: "wx00000000000000b2", secret: "secret-b-0123456789abcdef01234567")

    let server: SandboxServer
    let clock: ManualSandboxClock

    /// Runs `body` against a fresh sandbox on an OS-chosen port, stopping it afterwards.
    static func with(
        apps: [SandboxApp] = [appA, appB],
        _ body: (Sandbox) async throws -> Void
    ) async throws {
        let clock = ManualSandboxClock()
        let server = try await SandboxServer.start(apps: apps, clock: clock)
        let sandbox = Sandbox(server: server, clock: clock)
        do {
            try await body(sandbox)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    func get(_ pathAndQuery: String, timeout: Duration = .seconds(10)) async throws -> HTTPResult {
        try await self.send(.GET, pathAndQuery, timeout: timeout)
    }

    func post(_ path: String, json: String) async throws -> HTTPResult {
        try await self.send(.POST, path, json: json)
    }

    func delete(_ path: String) async throws -> HTTPResult {
        try await self.send(.DELETE, path)
    }

    private func send(
        _ method: HTTPMethod,
        _ pathAndQuery: String,
        json: String? = nil,
        timeout: Duration = .seconds(10)
    ) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: self.server.baseURL + pathAndQuery)
        request.method = method
        if let json {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let (seconds, attoseconds) = timeout.components
        let deadline = TimeAmount.nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        let response = try await HTTPClient.shared.execute(request, timeout: deadline)
        let buffer = try await response.body.collect(upTo: 1 << 20)
        return HTTPResult(
            status: Int(response.status.code),
            headers: response.headers,
            body: Data(buffer.readableBytesView)
        )
    }

    /// Mints a code through the control API and returns its JSON.
    func mintCode(app: SandboxApp = appA, user: String? = "alice", unionid: Bool? = nil) async throws -> SandboxAnswer {
        var fields = ["\"appid\": \"\(app.appid)\""]
        if let user { fields.append("\"user\": \"\(user)\"") }
        if let unionid { fields.append("\"unionid\": \(unionid)") }
        let result = try await self.post("/sandbox/codes", json: "{\(fields.joined(separator: ","))}")
        guard result.status == 201 else { throw UnexpectedAnswer(result: result) }
        return try result.decoded()
    }

    /// A newly minted code (``mintCode(app:user:unionid:)``).
    func newCode(app: SandboxApp = appA, user: String? = "alice") async throws -> String {
        try #require(try await self.mintCode(app: app, user: user).code)
    }

    /// Calls jscode2session the way a mini-program backend does.
    func exchange(
        code: String?,
        appid: String? = appA.appid,
        secret: String? = appA.secret,
        grantType: String? = "authorization_code",
        path: String = "/sns/jscode2session",
        timeout: Duration = .seconds(10)
    ) async throws -> HTTPResult {
        var query: [String] = []
        if let appid { query.append("appid=\(appid)") }
        if let secret { query.append("secret=\(secret)") }
        if let code { query.append("js_code=\(code)") }
        if let grantType { query.append("grant_type=\(grantType)") }
        return try await self.get(path + "?" + query.joined(separator: "&"), timeout: timeout)
    }

    /// How often each endpoint has been called (the control API's `/sandbox/calls`).
    func calls() async throws -> [String: Int] {
        try await self.get("/sandbox/calls").decoded()
    }

    func addFault(_ json: String) async throws {
        let result = try await self.post("/sandbox/faults", json: json)
        guard result.status == 201 else { throw UnexpectedAnswer(result: result) }
    }
}

struct UnexpectedAnswer: Error, CustomStringConvertible {
    var result: HTTPResult
    var reason = "unexpected answer"
    var description: String { "\(self.reason) \(self.result.status): \(self.result.text)" }
}
