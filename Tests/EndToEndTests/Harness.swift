import AsyncHTTPClient
import BlockingSocket
import Foundation
import NIOCore
import NIOHTTP1
import PostgresTestSupport
import TestSupport
import Testing
import WeChatSandbox

/// What one function process did.
struct Invocation: JSONBodied {
    var exitStatus: Int32
    var stdout: String
    var stderr: String
    var elapsed: Duration

    /// The response on stdout; nil when stdout is not one.
    var response: ProxyResponse? { try? decodeJSON(from: stdout) }

    var status: Int { response?.statusCode ?? -1 }
    var headers: [String: String] { response?.headers ?? [:] }
    /// The response's `Set-Cookie` values.
    var cookies: [String] { response?.cookies ?? [] }
    var bodyText: String? { response?.body }
}

/// An API Gateway v2.0 (HTTP API) event, as Lambda hands it to a function.
struct GatewayEvent: Encodable {
    struct Context: Encodable {
        struct HTTP: Encodable {
            var method: String
            var path: String
        }

        var http: HTTP
        var requestId = UUID().uuidString
    }

    var version = "2.0"
    var routeKey: String
    var rawPath: String
    var rawQueryString: String
    var headers: [String: String]
    var queryStringParameters: [String: String]?
    var cookies: [String]?
    var body: String?
    var isBase64Encoded = false
    var requestContext: Context

    /// `path` may carry a query string; a body comes with `content-type: application/json`.
    init(
        _ method: String,
        _ path: String,
        body: String? = nil,
        headers: [String: String] = [:],
        cookies: [String] = []
    ) {
        let parts = path.split(separator: "?", maxSplits: 1)
        rawPath = String(parts.first ?? "")
        rawQueryString = parts.count > 1 ? String(parts[1]) : ""
        var query: [String: String] = [:]
        for pair in rawQueryString.split(separator: "&") {
            let keyValue = pair.split(separator: "=", maxSplits: 1).map {
                String($0).removingPercentEncoding ?? String($0)
            }
            query[keyValue[0]] = keyValue.count > 1 ? keyValue[1] : ""
        }
        routeKey = "\(method) \(rawPath)"
        self.headers = headers
        if body != nil { self.headers["content-type"] = "application/json" }
        queryStringParameters = query.isEmpty ? nil : query
        self.cookies = cookies.isEmpty ? nil : cookies
        self.body = body
        requestContext = Context(http: .init(method: method, path: rawPath))
    }

    var bytes: [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }
    var text: String { String(decoding: bytes, as: UTF8.self) }
}

/// The store the spawned functions share.
enum E2EDatabase: String, CaseIterable, CustomStringConvertible, Sendable {
    case sqlite, postgres
    var description: String { rawValue }

    /// What the tests parameterised by store run against: PostgreSQL too when `WXAUTH_TEST_POSTGRES_URL` is set.
    static var available: [E2EDatabase] { PostgresTestDatabase.url == nil ? [.sqlite] : allCases }

    /// The store of every other end-to-end test: SQLite, or PostgreSQL with `WXAUTH_E2E_DATABASE=postgres`
    /// (`.ci/run` runs the end-to-end suite a second time that way).
    static var `default`: E2EDatabase {
        ProcessInfo.processInfo.environment["WXAUTH_E2E_DATABASE"] == "postgres" ? .postgres : .sqlite
    }
}

/// Runs `body` with a fresh harness — a WeChat sandbox on a loopback port and an empty store — and tears it down
/// afterwards, also when `body` throws: the sandbox stopped, the SQLite database's directory removed.
/// `sandboxClock` is the time WeChat's tokens expire by (the functions keep the real clock).
func withEndToEnd<Value>(
    database: E2EDatabase = .default,
    sandboxClock: any SandboxClock = SystemSandboxClock(),
    _ body: (EndToEnd) async throws -> Value
) async throws -> Value {
    let e2e = try await EndToEnd(database: database, sandboxClock: sandboxClock)
    let result: Value
    do {
        result = try await body(e2e)
    } catch {
        await e2e.tearDown()
        throw error
    }
    await e2e.tearDown()
    return result
}

/// Runs the built function executables as a FaaS platform would, against a WeChat sandbox on a loopback port.
final class EndToEnd: Sendable {
    static let appid = "wxe2eminiapp0001"
    static let appSecret = "e2e-app-secret-do-not-leak-7f3a"
    static let jwtSecret = "e2e-jwt-secret-do-not-leak-0123456789abcdef"
    static let officialAccount = "wxe2eofficial0001"
    static let officialSecret = "e2e-oa-secret-do-not-leak-91c2"
    static let website = "wxe2ewebsite00001"
    static let websiteSecret = "e2e-web-secret-do-not-leak-5d7e"
    /// Where the functions say they live (the `redirect_uri` WeChat sends users back to).
    static let publicURL = "https://auth.example.test"

    let sandbox: SandboxServer
    /// `WXAUTH_DATABASE_URL` of the spawned functions: a fresh SQLite file or a fresh PostgreSQL schema.
    let databaseURL: String
    let binDirectory: URL
    /// The SQLite database's directory, removed with this harness (also when a test fails).
    private let temporaryDirectory: URL?

    /// Made only by ``withEndToEnd(database:sandboxClock:_:)``, which always tears it down.
    fileprivate init(database: E2EDatabase, sandboxClock: any SandboxClock) async throws {
        _ = BrokenPipes.ignored
        let directory: URL?
        switch database {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
                "wxauth-e2e-\(UUID().uuidString)"
            )
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            databaseURL = "sqlite:" + folder.appendingPathComponent("wxauth.sqlite").path
            directory = folder
        case .postgres:
            databaseURL = try await PostgresTestDatabase.freshSchemaURL()
            directory = nil
        }
        do {
            sandbox = try await SandboxServer.start(
                apps: [
                    SandboxApp(appid: Self.appid, secret: Self.appSecret),
                    SandboxApp(appid: Self.officialAccount, secret: Self.officialSecret, kind: .officialAccount),
                    SandboxApp(appid: Self.website, secret: Self.websiteSecret, kind: .website),
                ],
                clock: sandboxClock
            )
        } catch {
            if let directory { try? FileManager.default.removeItem(at: directory) }
            throw error
        }
        temporaryDirectory = directory
        binDirectory = Self.locateExecutables()
    }

    /// Stops the sandbox and removes the SQLite database's directory.
    fileprivate func tearDown() async {
        await sandbox.stop()
        if let temporaryDirectory { try? FileManager.default.removeItem(at: temporaryDirectory) }
    }

    /// The executables sit beside the test bundle (`.build/<triple>/debug`), unless `WXAUTH_BIN_DIR` says otherwise.
    static func locateExecutables() -> URL {
        if let dir = ProcessInfo.processInfo.environment["WXAUTH_BIN_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir)
        }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("login").path) { return url }
        }
        return URL(fileURLWithPath: ".build/debug")
    }

    /// A built executable: a function, `wxauth-http` or `local-runner`.
    func executable(_ name: String) -> URL { binDirectory.appendingPathComponent(name) }

    var environment: [String: String] {
        [
            "PATH": "/usr/bin:/bin",
            "WECHAT_APPID": Self.appid, "WECHAT_SECRET": Self.appSecret,
            "WECHAT_API_BASE": sandbox.baseURL, "WXAUTH_JWT_SECRET": Self.jwtSecret,
            "WXAUTH_DATABASE_URL": databaseURL, "WXAUTH_FUNCTION_TIMEOUT": "10",
            "WECHAT_OA_APPID": Self.officialAccount, "WECHAT_OA_SECRET": Self.officialSecret,
            "WECHAT_WEB_APPID": Self.website, "WECHAT_WEB_SECRET": Self.websiteSecret,
            "WECHAT_OPEN_BASE": sandbox.baseURL, "WXAUTH_PUBLIC_URL": Self.publicURL, "WXAUTH_RETURN_TO": "/,/app",
        ]
    }

    /// Runs one function (or another built executable, with `arguments`) with `stdin` bytes and waits for it.
    func invoke(
        _ function: String,
        arguments: [String] = [],
        stdin: [UInt8] = [],
        extraEnvironment: [String: String] = [:]
    ) async throws -> Invocation {
        let run = try await runChildProcess(
            executable(function),
            arguments: arguments,
            stdin: .bytes(stdin),
            environment: environment.merging(extraEnvironment) { _, new in new }
        )
        if arguments.isEmpty { LogShape.expectStructured(run.stderr) }
        return Invocation(exitStatus: run.status, stdout: run.stdout, stderr: run.stderr, elapsed: run.elapsed)
    }

    /// Blocking work (a pipe, a process, a file) on a thread of its own: the sandbox in this process serves on
    /// Swift's small cooperative pool, which blocking calls would starve.
    static func onThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await onOwnThread(work)
    }

    /// Runs one function with an API Gateway v2.0 event; `path` may carry a query string.
    func invoke(
        _ function: String,
        method: String,
        path: String,
        body: String? = nil,
        headers: [String: String] = [:],
        cookies: [String] = [],
        extraEnvironment: [String: String] = [:]
    ) async throws -> Invocation {
        try await invoke(
            function,
            stdin: GatewayEvent(method, path, body: body, headers: headers, cookies: cookies).bytes,
            extraEnvironment: extraEnvironment
        )
    }

    // MARK: Sandbox control

    /// A code the sandbox minted (`/sandbox/codes`, `/sandbox/web-codes`, `/sandbox/phone-codes`).
    struct MintedCode: Decodable {
        var code: String
        var openid: String?
    }

    /// WeChat's encrypted user data for a signed-in test user, as `wx.getUserInfo` hands it out; also the body of
    /// `POST /userinfo`.
    struct EncryptedData: Codable {
        var encryptedData: String
        var iv: String
    }

    /// A fresh wx.login code for a test user.
    func mintCode(user: String = "alice") async throws -> String {
        try await mintedCode(user: user).code
    }

    private func mintedCode(user: String) async throws -> MintedCode {
        try await control(
            "POST",
            "/sandbox/codes",
            #"{"appid":"\#(Self.appid)","user":"\#(user)"}"#,
            as: MintedCode.self
        )
    }

    /// Queues a fault for the next `times` calls of jscode2session.
    func injectFault(_ fault: String) async throws {
        try await control("POST", "/sandbox/faults", fault)
    }

    /// How many times WeChat's jscode2session was called.
    func calls() async throws -> Int {
        try await upstreamCalls("/sns/jscode2session")
    }

    /// The session_key WeChat holds for a test user, if any.
    func sessionKey(user: String) async throws -> String? {
        struct Session: Decodable { var session_key: String? }
        let openid = try #require(try await mintedCode(user: user).openid)
        return try await control(
            "GET",
            "/sandbox/sessions?appid=\(Self.appid)&openid=\(openid)",
            nil,
            as: Session.self
        ).session_key
    }

    /// A `getPhoneNumber` code for a test user.
    func mintPhoneCode(user: String) async throws -> String {
        try await control(
            "POST",
            "/sandbox/phone-codes",
            #"{"appid":"\#(Self.appid)","user":"\#(user)","phone":"13800138000"}"#,
            as: MintedCode.self
        ).code
    }

    /// A code for a web sign-in through `appid` (the official account or the website app).
    func mintWebCode(appid: String, user: String, snapshot: Bool = false, scope: String? = nil) async throws -> String {
        var body = #"{"appid":"\#(appid)","user":"\#(user)","snapshot":\#(snapshot)"#
        if let scope { body += #","scope":"\#(scope)""# }
        return try await control("POST", "/sandbox/web-codes", body + "}", as: MintedCode.self).code
    }

    /// Encrypted profile data for a signed-in test user, made with their latest session_key.
    func encryptedProfile(openid: String) async throws -> EncryptedData {
        try await control(
            "POST",
            "/sandbox/encrypted-data",
            #"{"appid":"\#(Self.appid)","openid":"\#(openid)"}"#,
            as: EncryptedData.self
        )
    }

    /// One request to the sandbox's control API, its answer decoded as `type`.
    func control<Answer: Decodable>(
        _ method: String,
        _ path: String,
        _ body: String?,
        as type: Answer.Type
    ) async throws -> Answer {
        try decodeJSON(type, from: try await control(method, path, body))
    }

    /// One request to the sandbox's control API: its answer's bytes.
    @discardableResult
    func control(_ method: String, _ path: String, _ body: String?) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: sandbox.baseURL + path)
        request.method = .init(rawValue: method)
        if let body {
            request.body = .bytes(ByteBuffer(string: body))
            request.headers.add(name: "content-type", value: "application/json")
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
    }

    /// How many times WeChat's `endpoint` was called.
    func upstreamCalls(_ endpoint: String) async throws -> Int {
        try await control("GET", "/sandbox/calls", nil, as: [String: Int].self)[endpoint] ?? 0
    }
}

extension EndToEnd {
    /// Every secret the harness hands the functions: none may ever be printed.
    static let secrets = [appSecret, jwtSecret, officialSecret, websiteSecret]

    /// `POST /login` with a fresh wx.login code for `user`, and `phoneCode` when given.
    func login(
        user: String = "alice",
        phoneCode: String? = nil,
        environment: [String: String] = [:]
    ) async throws -> Invocation {
        let code = try await mintCode(user: user)
        return try await login(code: code, phoneCode: phoneCode, environment: environment)
    }

    /// `POST /login` with `code`, and `phoneCode` when given.
    func login(code: String, phoneCode: String? = nil, environment: [String: String] = [:]) async throws -> Invocation {
        let body = phoneCode.map { #"{"code":"\#(code)","phoneCode":"\#($0)"}"# } ?? #"{"code":"\#(code)"}"#
        return try await invoke("login", method: "POST", path: "/login", body: body, extraEnvironment: environment)
    }

    /// A mini-program sign-in through the real `login`, which must succeed: its token answer.
    func signIn(
        user: String = "alice",
        environment: [String: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> TokenAnswer {
        let login = try await login(user: user, environment: environment)
        #expect(login.status == 200, "\(login.stdout)", sourceLocation: sourceLocation)
        return try login.tokens
    }

    /// `GET /userinfo` with an access token.
    func userinfo(_ accessToken: String, environment: [String: String] = [:]) async throws -> Invocation {
        try await invoke(
            "userinfo",
            method: "GET",
            path: "/userinfo",
            headers: ["authorization": "Bearer \(accessToken)"],
            extraEnvironment: environment
        )
    }

    /// `POST /userinfo`: WeChat's encrypted user data, to be decrypted with the signed-in user's session_key.
    func decrypt(
        _ data: EncryptedData,
        access accessToken: String,
        environment: [String: String] = [:]
    ) async throws -> Invocation {
        try await invoke(
            "userinfo",
            method: "POST",
            path: "/userinfo",
            body: String(decoding: try JSONEncoder().encode(data), as: UTF8.self),
            headers: ["authorization": "Bearer \(accessToken)"],
            extraEnvironment: environment
        )
    }

    /// `POST /refresh` with the refresh token in the body.
    func refresh(_ refreshToken: String) async throws -> Invocation {
        try await invoke("refresh", method: "POST", path: "/refresh", body: #"{"refresh_token":"\#(refreshToken)"}"#)
    }
}
