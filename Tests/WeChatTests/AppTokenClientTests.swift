import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

@testable import WeChat

/// Keeps every log line, message and metadata, to prove no secret is written.
final class LogRecorder: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }

    func logger() -> Logger {
        Logger(label: "test") { _ in Handler(recorder: self) }
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            recorder.lines.withLock { $0.append("\(event.message) \(merged)") }
        }
    }
}

@Suite struct AppTokenClientTests {
    let secret = Secret("app-secret-\"quoted\"\\")
    let appToken = Secret("90_APPTOKENvalueTHATmustNEVERbeLOGGED")

    func client(_ transport: ScriptedWeChat, logs: LogRecorder = LogRecorder()) -> WeChatClient {
        scriptedClient(transport, logs: logs)
    }

    /// Asks for the phone number of code "c" without an openid, the call most of these tests make.
    func phoneNumber(
        _ transport: ScriptedWeChat,
        logs: LogRecorder = LogRecorder()
    ) async throws(WeChatError)
        -> PhoneInfo
    {
        try await client(transport, logs: logs).userPhoneNumber(
            appAccessToken: appToken,
            code: "c",
            openid: nil,
            deadline: .now + .seconds(10)
        )
    }

    /// The JSON body stable_token is called with (WECHAT.md A1).
    struct StableTokenRequest: Decodable {
        var grantType: String
        var appid: String
        var secret: String
        var forceRefresh: Bool

        enum CodingKeys: String, CodingKey {
            case appid, secret
            case grantType = "grant_type"
            case forceRefresh = "force_refresh"
        }
    }

    func body<Body: Decodable>(_ request: WeChatHTTPRequest?, as type: Body.Type = Body.self) throws -> Body {
        try decodeJSON(from: try #require(request?.body, "no request body"))
    }

    // MARK: stable_token

    @Test func stableTokenPostsJSONAndReadsTheToken() async throws {
        let transport = ScriptedWeChat([
            .answer(200, #"{"access_token":"90_tok","expires_in":7180}"#, "application/json")
        ])
        let token = try await client(transport).stableAccessToken(
            appid: "wxapp",
            secret: secret,
            deadline: .now + .seconds(10)
        )
        #expect(token.token.revealed == "90_tok")
        #expect(token.expiresIn == 7180)

        let request = try #require(transport.requests.first)
        #expect(request.method == "POST")
        #expect(request.url == "http://wechat.test/cgi-bin/stable_token")
        #expect(request.headers.contains { $0.0.lowercased() == "content-type" && $0.1 == "application/json" })
        let body = try self.body(request, as: StableTokenRequest.self)
        #expect(body.grantType == "client_credential")
        #expect(body.appid == "wxapp")
        #expect(body.secret == secret.revealed)
        #expect(body.forceRefresh == false)
        #expect(
            try self.body(request, as: JSONObjectKeys.self).keys == ["grant_type", "appid", "secret", "force_refresh"]
        )
    }

    @Test func forceRefreshIsSent() async throws {
        let transport = ScriptedWeChat([.answer(200, #"{"access_token":"90_tok","expires_in":7200}"#, nil)])
        _ = try await client(transport).stableAccessToken(
            appid: "wxapp",
            secret: secret,
            forceRefresh: true,
            deadline: .now + .seconds(10)
        )
        #expect(try body(transport.requests.first, as: StableTokenRequest.self).forceRefresh == true)
    }

    @Test(arguments: [
        (40013, WeChatError.Category.configuration), (40125, .configuration), (40164, .configuration),
        (40002, .configuration), (45011, .rateLimited), (45009, .rateLimited),
    ])
    func stableTokenRefusalsAreClassifiedAndNotRetried(errcode: Int, category: WeChatError.Category) async throws {
        let logs = LogRecorder()
        let transport = ScriptedWeChat([.answer(200, #"{"errcode":\#(errcode),"errmsg":"no, rid: 1"}"#, nil)])
        let error = await #expect(throws: WeChatError.self) {
            try await client(transport, logs: logs).stableAccessToken(
                appid: "wxapp",
                secret: secret,
                deadline: .now + .seconds(10)
            )
        }
        #expect(error?.errcode == errcode)
        #expect(error?.category == category)
        #expect(error?.endpoint == "/cgi-bin/stable_token")
        #expect(transport.requests.count == 1)
        // Its start, so an escaped copy of the secret counts too.
        assertNoSecrets(["app-secret"], in: "\(String(describing: error))", logs.all.joined())
    }

    @Test func stableTokenIsRetriedEvenAfterItMayHaveReachedWeChat() async throws {
        let transport = ScriptedWeChat([
            .failure(TransportFailure(reason: "timed out", mayHaveReachedServer: true, isTimeout: true)),
            .answer(200, #"{"errcode":-1,"errmsg":"system error"}"#, nil),
            .answer(200, #"{"access_token":"90_tok","expires_in":7200}"#, nil),
        ])
        let token = try await client(transport).stableAccessToken(
            appid: "wxapp",
            secret: secret,
            deadline: .now + .seconds(10)
        )
        #expect(token.token.revealed == "90_tok")
        #expect(transport.requests.count == 3)
    }

    @Test(arguments: [
        #"{"expires_in":7200}"#, #"{"access_token":"","expires_in":7200}"#, #"{"access_token":"t"}"#,
        #"{"access_token":"t","expires_in":0}"#, #"{"access_token":"t","expires_in":1e300}"#,
    ])
    func stableTokenAnswersWithoutATokenAreUnavailable(body: String) async throws {
        let transport = ScriptedWeChat([.answer(200, body, nil)])
        let error = await #expect(throws: WeChatError.self) {
            try await client(transport).stableAccessToken(appid: "wxapp", secret: secret, deadline: .now + .seconds(10))
        }
        #expect(error?.category == .unavailable)
    }

    // MARK: getuserphonenumber

    static let phoneAnswers = [
        #"{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":86,"watermark":{"timestamp":1700000000,"appid":"wxapp"}}}"#,
        #"{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{"timestamp":1700000000,"appid":"wxapp"}}}"#,
    ]

    @Test(arguments: phoneAnswers)
    func phoneNumberReadsCountryCodeAsNumberOrString(answer: String) async throws {
        let logs = LogRecorder()
        let transport = ScriptedWeChat([.answer(200, answer, "application/json")])
        let phone = try await client(transport, logs: logs).userPhoneNumber(
            appAccessToken: appToken,
            code: "phone-code-1",
            openid: "o-user-1",
            deadline: .now + .seconds(10)
        )
        #expect(
            phone
                == PhoneInfo(
                    phoneNumber: "13800138000",
                    purePhoneNumber: "13800138000",
                    countryCode: "86",
                    watermarkAppid: "wxapp",
                    watermarkTimestamp: 1_700_000_000
                )
        )
        let request = try #require(transport.requests.first)
        #expect(request.method == "POST")
        #expect(request.url == "http://wechat.test/wxa/business/getuserphonenumber?access_token=\(appToken.revealed)")
        // The signed-in user's openid goes along, so WeChat refuses a phone code issued to someone else.
        #expect(try body(request, as: [String: String].self) == ["code": "phone-code-1", "openid": "o-user-1"])
        #expect(request.headers.contains { $0.0.lowercased() == "content-type" && $0.1 == "application/json" })
        assertNoSecrets([appToken.revealed], in: logs.all.joined())
    }

    @Test func anInvalidAppTokenIsClassifiedAndNeverShown() async throws {
        for errcode in [40001, 40014, 42001] {
            let logs = LogRecorder()
            let transport = ScriptedWeChat([
                .answer(
                    200,
                    #"{"errcode":\#(errcode),"errmsg":"invalid credential, access_token is invalid or not latest"}"#,
                    nil
                )
            ])
            let error = await #expect(throws: WeChatError.self) {
                try await phoneNumber(transport, logs: logs)
            }
            #expect(error?.category == .appTokenInvalid)
            #expect(error?.endpoint == "/wxa/business/getuserphonenumber")
            #expect(transport.requests.count == 1)
            #expect(!logs.all.isEmpty)
            assertNoSecrets([appToken.revealed], in: "\(String(describing: error))", logs.all.joined())
        }
    }

    @Test func aUsedPhoneCodeIsAnInvalidCode() async throws {
        let transport = ScriptedWeChat([.answer(200, #"{"errcode":40029,"errmsg":"invalid code"}"#, nil)])
        let error = await #expect(throws: WeChatError.self) {
            try await phoneNumber(transport)
        }
        #expect(error?.category == .invalidCode)
    }

    @Test func aPhoneCallThatMayHaveReachedWeChatIsNotResent() async throws {
        let transport = ScriptedWeChat([
            .failure(TransportFailure(reason: "timed out", mayHaveReachedServer: true, isTimeout: true)),
            .answer(200, Self.phoneAnswers[0], nil),
        ])
        let error = await #expect(throws: WeChatError.self) {
            try await phoneNumber(transport)
        }
        #expect(error?.category == .unavailable)
        #expect(transport.requests.count == 1)
    }

    @Test(arguments: [
        #"{"errcode":0,"errmsg":"ok"}"#, #"{"phone_info":{"purePhoneNumber":"1"}}"#, #"{"phone_info":"13800138000"}"#,
    ])
    func phoneAnswersWithoutANumberAreUnavailable(body: String) async throws {
        let transport = ScriptedWeChat([.answer(200, body, nil)])
        let error = await #expect(throws: WeChatError.self) {
            try await phoneNumber(transport)
        }
        #expect(error?.category == .unavailable)
    }

    @Test func aPhoneAnswerWithoutExtrasFallsBack() async throws {
        let transport = ScriptedWeChat([.answer(200, #"{"phone_info":{"phoneNumber":"+14155550100"}}"#, nil)])
        let phone = try await phoneNumber(transport)
        #expect(phone.purePhoneNumber == "+14155550100")
        #expect(phone.countryCode == nil)
        #expect(phone.watermarkAppid == nil)
    }

    @Test func requestBodiesAreProperJSON() throws {
        let body = WeChatClient.json(["code": .string("a\"b\\c\n\u{01}é"), "force_refresh": .bool(true)])
        struct Sent: Decodable {
            var code: String
            var force_refresh: Bool
        }
        let sent = try decodeJSON(Sent.self, from: body)
        #expect(sent.code == "a\"b\\c\n\u{01}é")
        #expect(sent.force_refresh == true)
    }
}
