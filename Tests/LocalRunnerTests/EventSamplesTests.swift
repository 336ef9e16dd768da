import Foundation
import TestSupport
import Testing

/// The sample events under `events/` that the README's `invoke` examples use: each one must still be a valid
/// event for its function and get the answer the README promises, from the built executable itself.
@Suite("events/ samples", .enabled(if: builtLocalRunner != nil, "the functions are not built"))
struct EventSamplesTests {
    static let eventsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("events")

    /// Every sample, with the status it gets with only a secret, an app and no reachable WeChat.
    static let expected: [String: (status: Int, contains: String)] = [
        "userinfo-no-token.json": (401, #""error":"invalid_token""#),
        "refresh.json": (400, #""error":"invalid_grant""#),
        "jwks.json": (200, #""keys""#),
        // WeChat is a closed loopback port here: the code cannot be exchanged, and the answer says to retry.
        "login-miniprogram.json": (503, #""error":"temporarily_unavailable""#),
        // Inside WeChat (its user agent): a 302 to the official account's authorize page.
        "login-web-api-gateway-v1.json": (302, "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxsampleoa"),
    ]

    @Test func everySampleHasAnExpectedAnswer() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.eventsDirectory.path).filter {
            $0.hasSuffix(".json")
        }
        #expect(Set(files) == Set(Self.expected.keys))
    }

    @Test(arguments: expected.keys.sorted())
    func sampleGetsTheDocumentedAnswer(file: String) async throws {
        let function = String(file.prefix { $0 != "-" && $0 != "." })
        let executable = try #require(builtLocalRunner).deletingLastPathComponent().appendingPathComponent(function)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "wxauth-samples-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let event = try String(contentsOf: Self.eventsDirectory.appendingPathComponent(file), encoding: .utf8)
        let run = try await runChildProcess(
            executable,
            stdin: .text(event),
            environment: [
                "WXAUTH_JWT_SECRET": "sample-secret-of-at-least-32-bytes!!",
                "WECHAT_APPID": "wxsample", "WECHAT_SECRET": "sample-secret",
                "WECHAT_OA_APPID": "wxsampleoa", "WECHAT_OA_SECRET": "sample-oa-secret",
                "WXAUTH_PUBLIC_URL": "https://auth.example.com",
                "WECHAT_API_BASE": "http://127.0.0.1:9", "WXAUTH_FUNCTION_TIMEOUT": "5",
                "WXAUTH_DATABASE_URL": "sqlite:" + directory.appendingPathComponent("samples.sqlite").path,
            ]
        )
        #expect(run.status == 0, "\(run.stderr)")
        let response = try decodeJSON(ProxyResponse.self, from: run.stdout)
        let expected = try #require(Self.expected[file])
        #expect(response.statusCode == expected.status, "\(run.stdout)")
        let location = response.headers?["location"] ?? ""
        #expect(((response.body ?? "") + location).contains(expected.contains), "\(run.stdout)")
    }
}
