import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import WeChatSandbox

/// An answer from the sandbox, with its body parsed as JSON where it is JSON.
struct HTTPResult {
    var status: Int
    var headers: HTTPHeaders
    var body: Data

    var contentType: String { self.headers.first(name: "content-type") ?? "" }
    var text: String { String(decoding: self.body, as: UTF8.self) }

    /// The body as a JSON object (empty when it is not one).
    var json: [String: Any] {
        ((try? JSONSerialization.jsonObject(with: self.body)) as? [String: Any]) ?? [:]
    }

    var errcode: Int? { self.json["errcode"] as? Int }
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
    func mintCode(app: SandboxApp = appA, user: String? = "alice", unionid: Bool? = nil) async throws -> [String: Any] {
        var fields = ["\"appid\": \"\(app.appid)\""]
        if let user { fields.append("\"user\": \"\(user)\"") }
        if let unionid { fields.append("\"unionid\": \(unionid)") }
        let result = try await self.post("/sandbox/codes", json: "{\(fields.joined(separator: ","))}")
        guard result.status == 201 else { throw UnexpectedAnswer(result: result) }
        return result.json
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

    func addFault(_ json: String) async throws {
        let result = try await self.post("/sandbox/faults", json: json)
        guard result.status == 201 else { throw UnexpectedAnswer(result: result) }
    }
}

struct UnexpectedAnswer: Error, CustomStringConvertible {
    var result: HTTPResult
    var description: String { "unexpected answer \(self.result.status): \(self.result.text)" }
}
