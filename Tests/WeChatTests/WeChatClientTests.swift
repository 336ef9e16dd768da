import Foundation
import Logging
import Synchronization
import TestSupport
import Testing
import WeChatHTTP

@testable import WeChat

/// A virtual clock: sleeping advances it instantly, and sleeps are recorded.
final class VirtualClock: WeChatClock {
    private let state = Mutex<(now: ContinuousClock.Instant, sleeps: [Duration])>((.now, []))
    var now: ContinuousClock.Instant { state.withLock { $0.now } }
    var sleeps: [Duration] { state.withLock { $0.sleeps } }
    func sleep(for duration: Duration) async throws {
        state.withLock {
            $0.now = $0.now + duration
            $0.sleeps.append(duration)
        }
    }
}

@Suite struct WeChatClientTests {
    let success = #"{"session_key":"HyVFkGl5F5OQWJZZaNzBBg==","openid":"oUser1","unionid":"oUnion1"}"#
    let secret = Secret("app-secret-value")

    func client(_ transport: ScriptedWeChat, clock: VirtualClock = VirtualClock()) -> WeChatClient {
        scriptedClient(transport, apiBase: "http://wechat.test/", clock: clock)
    }

    /// Exchanges code "c" of app "a", the call most of these tests make.
    func exchange(_ transport: ScriptedWeChat) async throws(WeChatError) -> CodeSession {
        try await client(transport).codeToSession(appid: "a", secret: secret, code: "c", deadline: .now + .seconds(10))
    }

    @Test func exchangesACodeAnsweredAsTextPlain() async throws {
        let transport = ScriptedWeChat([.answer(200, success, "text/plain")])
        let session = try await client(transport).codeToSession(
            appid: "wxapp",
            secret: secret,
            code: "code 1",
            deadline: .now + .seconds(10)
        )
        #expect(session.openid == "oUser1")
        #expect(session.unionid == "oUnion1")
        #expect(session.sessionKey.revealed == "HyVFkGl5F5OQWJZZaNzBBg==")
        #expect(
            transport.urls == [
                "http://wechat.test/sns/jscode2session?appid=wxapp&secret=app-secret-value&js_code=code%201&grant_type=authorization_code"
            ]
        )
    }

    @Test(arguments: [
        (40029, WeChatError.Category.invalidCode), (40163, .invalidCode), (42003, .invalidCode),
        (40226, .blockedUser), (40013, .configuration), (40125, .configuration), (40164, .configuration),
        (48001, .configuration), (45011, .rateLimited), (40001, .appTokenInvalid), (99999, .unknown),
    ])
    func terminalErrorsAreNotRetried(errcode: Int, category: WeChatError.Category) async throws {
        let transport = ScriptedWeChat([
            .answer(200, #"{"errcode":\#(errcode),"errmsg":"nope"}"#, "application/json")
        ])
        let error = await #expect(throws: WeChatError.self) {
            try await exchange(transport)
        }
        #expect(error?.errcode == errcode)
        #expect(error?.category == category)
        #expect(transport.calls == 1)
    }

    @Test func busyIsRetriedWithBackoff() async throws {
        let busy = ScriptedWeChat.Outcome.answer(200, #"{"errcode":-1,"errmsg":"system error"}"#, "application/json")
        let transport = ScriptedWeChat([busy, busy, .answer(200, success, "text/plain")])
        let clock = VirtualClock()
        let session = try await client(transport, clock: clock).codeToSession(
            appid: "a",
            secret: secret,
            code: "c",
            deadline: clock.now + .seconds(10)
        )
        #expect(session.openid == "oUser1")
        #expect(transport.calls == 3)
        #expect(clock.sleeps == [.milliseconds(100), .milliseconds(200)])
    }

    @Test func busyForeverStopsAtTheAttemptLimitOrDeadline() async throws {
        let transport = ScriptedWeChat([.answer(200, #"{"errcode":-1,"errmsg":"busy"}"#, nil)])
        let clock = VirtualClock()
        let error = await #expect(throws: WeChatError.self) {
            try await client(transport, clock: clock).codeToSession(
                appid: "a",
                secret: secret,
                code: "c",
                deadline: clock.now + .seconds(10)
            )
        }
        #expect(error?.errcode == -1)
        #expect(transport.calls == 4)

        let tight = ScriptedWeChat([.answer(200, #"{"errcode":-1,"errmsg":"busy"}"#, nil)])
        let tightClock = VirtualClock()
        _ = await #expect(throws: WeChatError.self) {
            try await client(tight, clock: tightClock).codeToSession(
                appid: "a",
                secret: secret,
                code: "c",
                deadline: tightClock.now + .milliseconds(450)
            )
        }
        #expect(tight.calls == 2)
    }

    @Test func aTimeoutThatMayHaveReachedWeChatIsNotResentWithTheSameCode() async throws {
        let transport = ScriptedWeChat([
            .failure(TransportFailure(reason: "timed out", mayHaveReachedServer: true, isTimeout: true)),
            .answer(200, success, nil),
        ])
        let error = await #expect(throws: WeChatError.self) {
            try await exchange(transport)
        }
        #expect(error?.category == .unavailable)
        #expect(error?.mayHaveReachedWeChat == true)
        #expect(transport.calls == 1)
    }

    @Test func aRequestThatNeverLeftIsRetried() async throws {
        let transport = ScriptedWeChat([
            .failure(TransportFailure(reason: "could not connect", mayHaveReachedServer: false)),
            .answer(200, success, nil),
        ])
        let session = try await exchange(transport)
        #expect(session.openid == "oUser1")
        #expect(transport.calls == 2)
    }

    @Test func httpErrorsAndGarbageAreUnavailable() async throws {
        for outcome in [
            ScriptedWeChat.Outcome.answer(502, "bad gateway", nil), .answer(200, "<html>", "text/html"),
            .answer(200, #"{"openid":"x"}"#, nil),
        ] {
            let transport = ScriptedWeChat([outcome])
            let error = await #expect(throws: WeChatError.self) {
                try await exchange(transport)
            }
            #expect(error?.category == .unavailable)
            #expect(transport.calls == 1)
        }
    }

    @Test func errorTextsNeverCarryTheURLOrSecret() async throws {
        let failures: [ScriptedWeChat.Outcome] = [
            .answer(200, #"{"errcode":40125,"errmsg":"invalid appsecret"}"#, nil),
            .failure(TransportFailure(reason: "timed out", mayHaveReachedServer: true, isTimeout: true)),
            .answer(500, "", nil),
        ]
        for outcome in failures {
            let error = await #expect(throws: WeChatError.self) {
                try await exchange(ScriptedWeChat([outcome]))
            }
            let text = "\(String(describing: error)) \(String(reflecting: error))"
            #expect(!text.contains("secret="))
            assertNoSecrets([secret.revealed], in: text)
        }
    }

    @Test func secretsAreRedacted() {
        let value = Secret("s3cr3t")
        #expect("\(value)" == "<redacted>")
        #expect(String(reflecting: value) == "<redacted>")
        #expect(!String(describing: Mirror(reflecting: value).children.map(\.value)).contains("s3cr3t"))
        #expect(value == Secret("s3cr3t"))
        #expect(value != Secret("s3cr3u"))
        #expect(value != Secret("s3cr3"))
    }

    @Test func backoffBoundsGrowAndCap() {
        let policy = RetryPolicy(baseDelay: .milliseconds(100), maxDelay: .milliseconds(350))
        #expect(policy.delayBound(beforeRetry: 1) == .milliseconds(100))
        #expect(policy.delayBound(beforeRetry: 2) == .milliseconds(200))
        #expect(policy.delayBound(beforeRetry: 3) == .milliseconds(350))
        for _ in 0..<100 {
            let delay = RetryPolicy.fullJitter(.milliseconds(100))
            #expect(delay >= .zero && delay <= .milliseconds(100))
        }
    }

    @Test func aClosedPortIsAFailureBeforeSending() async throws {
        let port = try ClosedPort()
        defer { port.release() }
        let transport = WireTransport()
        let error = await #expect(throws: TransportFailure.self) {
            try await transport.send(
                WeChatHTTPRequest(url: "http://127.0.0.1:\(port.number)/sns/jscode2session"),
                timeout: .seconds(1)
            )
        }
        #expect(error?.mayHaveReachedServer == false)
    }
}

/// A loopback port that refuses connections: bound but never listening, and held until ``release()`` so
/// a server started by a test running in parallel cannot be handed the same port.
struct ClosedPort {
    let number: Int
    private let fd: Int32

    init() throws {
        (fd, number) = try LoopbackSocket.make(listening: false)
    }

    func release() {
        close(fd)
    }
}
