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
struct Invocation {
    var exitStatus: Int32
    var stdout: String
    var stderr: String
    var elapsed: Duration

    /// The response object on stdout.
    var response: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any]) ?? [:]
    }

    var status: Int { response["statusCode"] as? Int ?? -1 }
    var headers: [String: String] { response["headers"] as? [String: String] ?? [:] }
    /// The response's `Set-Cookie` values.
    var cookies: [String] { response["cookies"] as? [String] ?? [] }

    /// The response body, parsed as JSON.
    var body: [String: Any] {
        guard let text = response["body"] as? String else { return [:] }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }
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
            binDirectory.appendingPathComponent(function),
            arguments: arguments,
            stdin: stdin,
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
        var allHeaders = headers
        if body != nil { allHeaders["content-type"] = "application/json" }
        let parts = path.split(separator: "?", maxSplits: 1)
        let rawPath = String(parts.first ?? "")
        let rawQuery = parts.count > 1 ? String(parts[1]) : ""
        var query: [String: String] = [:]
        for pair in rawQuery.split(separator: "&") {
            let keyValue = pair.split(separator: "=", maxSplits: 1).map {
                String($0).removingPercentEncoding ?? String($0)
            }
            query[keyValue[0]] = keyValue.count > 1 ? keyValue[1] : ""
        }
        var event: [String: Any] = [
            "version": "2.0", "routeKey": "\(method) \(rawPath)", "rawPath": rawPath, "rawQueryString": rawQuery,
            "headers": allHeaders, "isBase64Encoded": false,
            "requestContext": ["http": ["method": method, "path": rawPath], "requestId": UUID().uuidString],
        ]
        if !query.isEmpty { event["queryStringParameters"] = query }
        if !cookies.isEmpty { event["cookies"] = cookies }
        if let body { event["body"] = body }
        let bytes = try JSONSerialization.data(withJSONObject: event)
        return try await invoke(function, stdin: Array(bytes), extraEnvironment: extraEnvironment)
    }

    // MARK: Sandbox control

    /// A fresh wx.login code for a test user.
    func mintCode(user: String = "alice") async throws -> String {
        let answer = try await control("POST", "/sandbox/codes", #"{"appid":"\#(Self.appid)","user":"\#(user)"}"#)
        return try #require(answer["code"] as? String)
    }

    /// Queues a fault for the next `times` calls of jscode2session.
    func injectFault(_ fault: String) async throws {
        _ = try await control("POST", "/sandbox/faults", fault)
    }

    func calls() async throws -> Int {
        try await control("GET", "/sandbox/calls", nil)["/sns/jscode2session"] as? Int ?? 0
    }

    func sessionKey(user: String) async throws -> String? {
        let codeAnswer = try await control("POST", "/sandbox/codes", #"{"appid":"\#(Self.appid)","user":"\#(user)"}"#)
        let openid = try #require(codeAnswer["openid"] as? String)
        return try await control("GET", "/sandbox/sessions?appid=\(Self.appid)&openid=\(openid)", nil)["session_key"]
            as? String
    }

    func control(_ method: String, _ path: String, _ body: String?) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: sandbox.baseURL + path)
        request.method = .init(rawValue: method)
        if let body {
            request.body = .bytes(ByteBuffer(string: body))
            request.headers.add(name: "content-type", value: "application/json")
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]) ?? [:]
    }
}

extension EndToEnd {
    /// A `getPhoneNumber` code for a test user.
    func mintPhoneCode(user: String) async throws -> String {
        let answer = try await control(
            "POST",
            "/sandbox/phone-codes",
            #"{"appid":"\#(Self.appid)","user":"\#(user)","phone":"13800138000"}"#
        )
        return try #require(answer["code"] as? String)
    }

    /// Encrypted profile data for a signed-in test user, made with their latest session_key.
    func encryptedProfile(openid: String) async throws -> [String: Any] {
        try await control("POST", "/sandbox/encrypted-data", #"{"appid":"\#(Self.appid)","openid":"\#(openid)"}"#)
    }

    func upstreamCalls(_ endpoint: String) async throws -> Int {
        try await control("GET", "/sandbox/calls", nil)[endpoint] as? Int ?? 0
    }
}
