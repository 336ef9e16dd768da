import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
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
            environment: ["WECHAT_APPID": "wxreal", "WXAUTH_DATABASE_URL": "postgres://h/db", "WXAUTH_JWT_SECRET_FILE": "/s"]
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
        let process = Process()
        process.executableURL = try #require(builtLocalRunner)
        process.arguments = ["dev", "--port", "0"]
        process.currentDirectoryURL = directory
        process.environment = ["PATH": "/usr/bin:/bin", "WXAUTH_BIN_DIR": try #require(builtFunctions).path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        var terminated = false
        defer { if !terminated { kill(process.processIdentifier, SIGKILL) } }

        var printed = ""
        while !printed.contains("Stop with Ctrl-C.") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
        let sandboxURL = try #require(printed.firstMatch(of: /WeChat sandbox: (http:\/\/127\.0\.0\.1:\d+)\n/), "\(printed)").1
        let serverURL = try #require(
            printed.firstMatch(of: /Serving \d+ functions on (http:\/\/127\.0\.0\.1:\d+)\n/), "\(printed)"
        ).1
        #expect(printed.contains("DEVELOPMENT ONLY"))
        #expect(printed.contains("\(serverURL)/login -H 'content-type: application/json'"))

        let minted = try await send("POST", "\(sandboxURL)/sandbox/codes", #"{"appid":"wxsandboxapp0001","user":"alice"}"#)
        #expect(minted.status == 201, "\(minted.body)")
        let code = try #require(minted.json["code"] as? String)

        let login = try await send("POST", "\(serverURL)/login", #"{"code":"\#(code)"}"#)
        #expect(login.status == 200, "\(login.body)")
        let token = try #require(login.json["access_token"] as? String)

        let userinfo = try await send("GET", "\(serverURL)/userinfo", nil, bearer: token)
        #expect(userinfo.status == 200, "\(userinfo.body)")

        kill(process.processIdentifier, SIGTERM)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        terminated = true
        #expect(process.terminationStatus == 0, "\(stderr)")
        #expect(stderr.contains("POST /login 200 "), "\(stderr)")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(".wxauth/dev.sqlite").path))
    }

    private struct Reply {
        var status: UInt
        var body: String
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }
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
        return Reply(status: response.status.code, body: String(buffer: bytes))
    }
}
