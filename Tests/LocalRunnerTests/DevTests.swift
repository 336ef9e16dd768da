import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

@testable import LocalRunner

/// The built function executables, which sit beside `local-runner` in the build directory.
private let builtFunctions: URL? = {
    guard let runner = builtLocalRunner else { return nil }
    let directory = runner.deletingLastPathComponent()
    let all = ["login", "callback", "refresh", "userinfo"].allSatisfy {
        FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent($0).path)
    }
    return all ? directory : nil
}()

@Suite("local-runner dev")
struct DevTests {
    @Test func sandboxVariablesAlwaysWinOtherDefaultsOnlyWhenUnset() {
        let function = FunctionSpec(
            name: "login",
            handler: "login",
            route: "/login",
            methods: ["POST"],
            environment: [
                "WECHAT_APPID": "wxreal", "WXAUTH_DATABASE_URL": "postgres://h/db", "WXAUTH_JWT_SECRET_FILE": "/s",
            ]
        )
        let result = DevCommand.overrides(
            for: function,
            pinned: ["WECHAT_APPID": "wxsandbox", "WECHAT_SECRET_FILE": ""],
            defaults: [
                "WXAUTH_DATABASE_URL": "sqlite:.wxauth/dev.sqlite",
                "WXAUTH_JWT_SECRET": "dev",
                "WXAUTH_PUBLIC_URL": "http://127.0.0.1:1",
            ]
        )
        #expect(
            result == [
                "WECHAT_APPID": "wxsandbox", "WECHAT_SECRET_FILE": "", "WXAUTH_PUBLIC_URL": "http://127.0.0.1:1",
            ]
        )
    }

    @Test func oneDevelopmentAppOfEachKindAndTheSettingsThatPointAtThem() {
        let environment = DevelopmentApp.environment(apps: DevelopmentApp.makeApps(), sandboxURL: "http://127.0.0.1:9")
        let secrets = ["WECHAT_SECRET", "WECHAT_OA_SECRET", "WECHAT_WEB_SECRET"].compactMap { environment[$0] }
        #expect(secrets.count == 3 && Set(secrets).count == 3)
        #expect(secrets.allSatisfy { $0.wholeMatch(of: /[0-9a-f]{32}/) != nil })
        #expect(
            environment.filter { !$0.key.hasSuffix("_SECRET") } == [
                "WECHAT_APPID": "wxsandboxapp0001", "WECHAT_SECRET_FILE": "",
                "WECHAT_OA_APPID": "wxsandboxoa00001", "WECHAT_OA_SECRET_FILE": "",
                "WECHAT_WEB_APPID": "wxsandboxweb0001", "WECHAT_WEB_SECRET_FILE": "",
                "WECHAT_API_BASE": "http://127.0.0.1:9", "WECHAT_OPEN_BASE": "http://127.0.0.1:9",
            ]
        )
        #expect(Set(environment.keys) == Set(DevelopmentApp.variableNames))
        #expect(Set(DevCommand.sandboxVariables) == Set(environment.keys))

        let shown = DevCommand.settingLines(
            environment.merging(["WXAUTH_PUBLIC_URL": "http://127.0.0.1:2", "WXAUTH_RETURN_TO": "/"]) { $1 }
        )
        #expect(
            shown == [
                "WECHAT_APPID=wxsandboxapp0001", "WECHAT_OA_APPID=wxsandboxoa00001",
                "WECHAT_WEB_APPID=wxsandboxweb0001",
                "WECHAT_API_BASE=http://127.0.0.1:9", "WECHAT_OPEN_BASE=http://127.0.0.1:9",
                "WXAUTH_PUBLIC_URL=http://127.0.0.1:2", "WXAUTH_RETURN_TO=/",
            ]
        )
    }

    @Test func theDemoPageIsServedAtTheRootBeforeTheRoutes() async throws {
        let server = try await FunctionServer.start(
            manifest: Manifest.builtIn,
            binDirectory: URL(fileURLWithPath: "/nonexistent"),
            runnerEnvironment: [:],
            staticPages: ["/": DemoPage.page],
            log: { _ in }
        )
        let page = try await send("GET", "\(server.baseURL)/", nil)
        let head = try await send("HEAD", "\(server.baseURL)/", nil)
        let post = try await send("POST", "\(server.baseURL)/", "{}")
        let unrouted = try await send("GET", "\(server.baseURL)/nothing-here", nil)
        await server.stop()

        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.headers["cache-control"] == "no-store")
        #expect(page.headers["content-security-policy"]?.contains("connect-src 'self'") == true)
        #expect(page.body == DemoPage.html)
        for id in [
            "signin", "signed-out", "profile", "nickname", "sub", "openid", "unionid", "picture", "refresh",
            "refresh-count", "signout", "error",
        ] {
            #expect(page.body.contains("id=\"\(id)\""), "no #\(id)")
        }
        #expect(page.body.contains("href=\"/login?return_to=/\""))
        #expect(page.body.contains("fetch(\"/refresh\""))
        // Nothing is loaded from elsewhere.
        #expect(!page.body.contains("://"))
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(head.headers["content-type"] == "text/html; charset=utf-8")
        #expect(post.status == 405 && post.headers["allow"] == "GET, HEAD")
        #expect(unrouted.status == 404)
    }

    @Test func instructionsHoldARunnableSignIn() {
        let lines = DevCommand.instructions(sandboxURL: "http://127.0.0.1:1", serverURL: "http://127.0.0.1:2")
        let text = lines.joined(separator: "\n")
        #expect(text.contains("curl -s -X POST http://127.0.0.1:1/sandbox/codes -d '{\"appid\":\"wxsandboxapp0001\""))
        #expect(text.contains("curl -s -X POST http://127.0.0.1:2/login -H 'content-type: application/json'"))
        #expect(text.contains("-H \"Authorization: Bearer $TOKEN\""))
    }

    @Test(.enabled(if: builtFunctions != nil, "local-runner and the functions are not built"))
    func devSignsInThroughTheSandboxAndStopsOnSIGTERM() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wxauth-dev-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let dev = try await RunningDev(
            directory: directory,
            environment: ["WXAUTH_BIN_DIR": try #require(builtFunctions).path]
        )
        let (printed, sandboxURL, serverURL) = (dev.printed, dev.sandboxURL, dev.serverURL)
        #expect(printed.contains("DEVELOPMENT ONLY"))
        #expect(printed.contains("Web sign-in demo: open \(serverURL)/ in a browser"))
        #expect(printed.contains("Mode: one process per request\nMemory: "), "\(printed)")
        for setting in [
            "WECHAT_OA_APPID=wxsandboxoa00001", "WECHAT_WEB_APPID=wxsandboxweb0001", "WECHAT_OPEN_BASE=\(sandboxURL)",
            "WXAUTH_PUBLIC_URL=\(serverURL)", "WXAUTH_RETURN_TO=/",
        ] {
            #expect(printed.contains("  \(setting)\n"), "\(printed)")
        }
        // No AppSecret (32 hex digits) nor the JWT key (64) is printed.
        #expect(printed.firstMatch(of: /[0-9a-f]{32}/) == nil, "\(printed)")

        let page = try await send("GET", "\(serverURL)/", nil)
        #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.body.contains("Sign in with WeChat"))
        #expect(printed.contains("\(serverURL)/login -H 'content-type: application/json'"))

        let minted = try await send(
            "POST",
            "\(sandboxURL)/sandbox/codes",
            #"{"appid":"wxsandboxapp0001","user":"alice"}"#
        )
        #expect(minted.status == 201, "\(minted.body)")
        let code = try minted.decoded(MintedCode.self).code

        let login = try await send("POST", "\(serverURL)/login", #"{"code":"\#(code)"}"#)
        #expect(login.status == 200, "\(login.body)")
        let token = try login.decoded(TokenAnswer.self).access_token

        let userinfo = try await send("GET", "\(serverURL)/userinfo", nil, bearer: token)
        #expect(userinfo.status == 200, "\(userinfo.body)")

        let (status, stderr) = await dev.stop()
        #expect(status == 0, "\(stderr)")
        #expect(stderr.contains("POST /login 200 "), "\(stderr)")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(".wxauth/dev.sqlite").path))
    }

    @Test(.enabled(if: builtLocalRunner != nil, "local-runner is not built"))
    func devGivesEveryFunctionTheSandboxAppsAndTheirWorkingSecrets() async throws {
        // A function that answers with the settings it was given.
        let bin = try InvocationTests.BinDirectory([
            "settings": #"""
            cat >/dev/null
            keys="$([ -n "$WXAUTH_SIGNING_KEYS" ] && echo SIGNING_KEYS_GIVEN=1)"
            printf '{"statusCode":200,"body":"%s %s"}' "$(env | grep -E '^(WECHAT|WXAUTH)_' | grep -v '^WXAUTH_SIGNING_KEYS=' | tr '\n' ' ')" "$keys"
            """#
        ])
        let manifest = bin.file("functions.yaml")
        try Data(
            """
            defaults: {environment: {WXAUTH_RETURN_TO: "${WXAUTH_RETURN_TO:-}"}}
            functions:
              settings: {handler: settings, route: /settings, method: GET}
            """.utf8
        ).write(to: manifest)
        let dev = try await RunningDev(
            arguments: ["--manifest", manifest.path],
            directory: bin.url,
            environment: ["WXAUTH_BIN_DIR": bin.url.path, "WXAUTH_RETURN_TO": "/app"]
        )
        let (printed, sandboxURL, serverURL) = (dev.printed, dev.sandboxURL, dev.serverURL)

        let answer = try await send("GET", "\(serverURL)/settings", nil)
        let settings = Dictionary(
            answer.body.split(separator: " ").map { line in
                let parts = line.split(separator: "=", maxSplits: 1)
                return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            },
            uniquingKeysWith: { $1 }
        )
        #expect(settings["WECHAT_APPID"] == "wxsandboxapp0001")
        #expect(settings["WECHAT_OA_APPID"] == "wxsandboxoa00001")
        #expect(settings["WECHAT_WEB_APPID"] == "wxsandboxweb0001")
        #expect(settings["WECHAT_API_BASE"] == sandboxURL)
        #expect(settings["WECHAT_OPEN_BASE"] == sandboxURL)
        #expect(settings["WXAUTH_PUBLIC_URL"] == serverURL)
        #expect(settings["SIGNING_KEYS_GIVEN"] == "1", "dev signs with a key set of its own")
        // The user's own allow-list (exported, through the manifest) stays; dev fills in "/" only without one.
        #expect(settings["WXAUTH_RETURN_TO"] == "/app")
        #expect(printed.contains("  WXAUTH_RETURN_TO=/app\n"), "\(printed)")
        #expect(settings.keys.contains { $0.hasSuffix("_FILE") } == false)

        // Each secret is the one the sandbox holds for that app: WeChat accepts it with a code.
        for (prefix, appid) in [("WECHAT_OA", "wxsandboxoa00001"), ("WECHAT_WEB", "wxsandboxweb0001")] {
            let secret = try #require(settings["\(prefix)_SECRET"])
            let minted = try await send(
                "POST",
                "\(sandboxURL)/sandbox/web-codes",
                #"{"appid":"\#(appid)","user":"alice"}"#
            )
            let code = try minted.decoded(MintedCode.self).code
            let exchanged = try await send(
                "GET",
                "\(sandboxURL)/sns/oauth2/access_token?appid=\(appid)&secret=\(secret)&code=\(code)"
                    + "&grant_type=authorization_code",
                nil
            )
            #expect(throws: Never.self, "\(appid)") { try exchanged.decoded(WebAccessToken.self) }
        }
    }

    /// `local-runner dev --port 0` started in `directory`, and the two URLs it printed.
    private struct RunningDev {
        let runner: ServingProcess
        let sandboxURL: String
        let serverURL: String
        var printed: String { runner.printed }

        init(arguments: [String] = [], directory: URL, environment: [String: String]) async throws {
            runner = try await RunningRunner.start(
                ["dev", "--port", "0"] + arguments,
                directory: directory,
                environment: environment
            )
            let sandbox = runner.printed.firstMatch(of: /WeChat sandbox: (http:\/\/127\.0\.0\.1:\d+)\n/)
            let server = runner.printed.firstMatch(of: /Serving \d+ functions? on (http:\/\/127\.0\.0\.1:\d+)\n/)
            sandboxURL = String(try #require(sandbox, "\(runner.printed)").1)
            serverURL = String(try #require(server, "\(runner.printed)").1)
        }

        func stop() async -> (status: Int32, stderr: String) {
            let stopped = await runner.stop()
            return (stopped.status, stopped.stderr)
        }
    }

    private struct Reply {
        var status: UInt
        var headers: [String: String] = [:]
        var body: String
        func decoded<Body: Decodable>(_ type: Body.Type = Body.self) throws -> Body { try decodeJSON(from: body) }
    }

    /// The sandbox's answer to a minted code (its control API).
    private struct MintedCode: Decodable {
        var code: String
    }

    /// WeChat's answer to a web code (WECHAT.md A1): the part these tests use.
    private struct WebAccessToken: Decodable {
        var access_token: String
    }

    private func send(_ method: String, _ url: String, _ body: String?, bearer: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = .RAW(value: method)
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        if let bearer { request.headers.add(name: "authorization", value: "Bearer \(bearer)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let headers = Dictionary(response.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { $1 })
        return Reply(status: response.status.code, headers: headers, body: String(buffer: bytes))
    }
}
