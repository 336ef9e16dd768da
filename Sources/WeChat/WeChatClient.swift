import Encodings
import FunctionRuntime
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The result of `jscode2session`: who signed in, and the session_key for their encrypted data.
public struct CodeSession: Sendable {
    public var openid: String
    public var unionid: String?
    public var sessionKey: Secret

    public init(openid: String, unionid: String?, sessionKey: Secret) {
        self.openid = openid
        self.unionid = unionid
        self.sessionKey = sessionKey
    }
}

/// WeChat's server API: one method per endpoint, typed results, ``WeChatError`` on every failure.
public struct WeChatClient: Sendable {
    public var apiBase: String
    public var transport: any WeChatTransport
    public var clock: any WeChatClock
    public var retryPolicy: RetryPolicy
    public var logger: Logger

    /// `transport` sends the requests: `WireTransport` of the `WeChatHTTP` module in production (this
    /// module links no HTTP client, so the functions that never call WeChat link none), a fake in tests.
    public init(
        apiBase: String = "https://api.weixin.qq.com",
        transport: any WeChatTransport,
        clock: any WeChatClock = SystemWeChatClock(),
        retryPolicy: RetryPolicy = RetryPolicy(),
        logger: Logger
    ) {
        self.apiBase = apiBase.hasSuffix("/") ? String(apiBase.dropLast()) : apiBase
        self.transport = transport
        self.clock = clock
        self.retryPolicy = retryPolicy
        self.logger = logger
    }

    // MARK: - Endpoints

    /// Exchanges a mini-program `wx.login` code (`GET /sns/jscode2session`).
    ///
    /// Codes are single-use, so this call is not idempotent: it is retried only when WeChat answered busy
    /// (-1) or when the request surely never left; see ``send(_:endpoint:idempotent:deadline:)``.
    public func codeToSession(
        appid: String,
        secret: Secret,
        code: String,
        deadline: ContinuousClock.Instant
    ) async throws(WeChatError) -> CodeSession {
        let endpoint = "/sns/jscode2session"
        let url =
            apiBase + endpoint + "?"
            + Self.query([
                ("appid", appid), ("secret", secret.revealed), ("js_code", code), ("grant_type", "authorization_code"),
            ])
        let object = try await send(
            WeChatHTTPRequest(url: url),
            endpoint: endpoint,
            idempotent: false,
            deadline: deadline
        )
        guard let openid = object.string("openid"), !openid.isEmpty,
            let sessionKey = object.string("session_key"), !sessionKey.isEmpty
        else {
            throw WeChatError(.invalidResponse("no openid or session_key"), endpoint: endpoint)
        }
        let unionid = object.string("unionid").flatMap { $0.isEmpty ? nil : $0 }
        return CodeSession(openid: openid, unionid: unionid, sessionKey: Secret(sessionKey))
    }

    // MARK: - Sending with retries

    /// Sends a request and decodes WeChat's JSON answer, retrying what is safe to retry.
    ///
    /// The rule: retry when WeChat said busy (-1) — it did not act on the request — and when the request
    /// surely never left (connection refused, connect timeout). When a request may have reached WeChat
    /// (a timeout after sending, a dropped connection, an HTTP 5xx) it is retried only if `idempotent`:
    /// re-sending a single-use code that WeChat may already have consumed would turn a slow answer into
    /// a certain 40163, so the caller gets a 503 and the client retries with a fresh code instead.
    func send(
        _ request: WeChatHTTPRequest,
        endpoint: String,
        idempotent: Bool,
        deadline: ContinuousClock.Instant
    ) async throws(WeChatError) -> JSONObject {
        var attempt = 0
        while true {
            attempt += 1
            let remaining = deadline - clock.now
            guard remaining >= retryPolicy.minimumAttemptTime else {
                throw WeChatError(.deadlineExceeded, endpoint: endpoint)
            }
            let observer = WeChatCalls.observer
            if let observer, let wait = await observer.holdBack(endpoint: endpoint) {
                throw WeChatError(.circuitOpen(retryAfter: wait), endpoint: endpoint)
            }
            let error: WeChatError
            let started = clock.now
            do {
                let object = try await attemptOnce(
                    request,
                    endpoint: endpoint,
                    timeout: min(remaining, retryPolicy.attemptTimeout)
                )
                await observer?.attempted(endpoint: endpoint, latency: clock.now - started, outcome: .answered)
                return object
            } catch let failure {
                error = failure
            }
            await observer?.attempted(
                endpoint: endpoint,
                latency: clock.now - started,
                outcome: error.isOutage ? .failed : .refused
            )
            let retryable = Self.isRetryable(error, idempotent: idempotent)
            logger.warning(
                "WeChat call failed",
                metadata: [
                    "endpoint": "\(endpoint)", "attempt": "\(attempt)", "error": "\(error)",
                    "will_retry": "\(retryable && attempt < retryPolicy.maxAttempts)",
                ]
            )
            guard retryable, attempt < retryPolicy.maxAttempts else { throw error }
            let delay = retryPolicy.jitter(retryPolicy.delayBound(beforeRetry: attempt))
            guard clock.now + delay + retryPolicy.minimumAttemptTime <= deadline else { throw error }
            do {
                try await clock.sleep(for: delay)
            } catch {
                throw WeChatError(.deadlineExceeded, endpoint: endpoint)
            }
        }
    }

    static func isRetryable(_ error: WeChatError, idempotent: Bool) -> Bool {
        if error.category == .busy { return true }
        if error.category == .unavailable {
            return idempotent || !error.mayHaveReachedWeChat
        }
        return false
    }

    private func attemptOnce(
        _ request: WeChatHTTPRequest,
        endpoint: String,
        timeout: Duration
    ) async throws(WeChatError)
        -> JSONObject
    {
        let response: WeChatHTTPResponse
        do {
            response = try await transport.send(request, timeout: timeout)
        } catch let failure as TransportFailure {
            throw WeChatError(
                .transport(
                    reason: failure.reason,
                    mayHaveReachedWeChat: failure.mayHaveReachedServer,
                    isTimeout: failure.isTimeout
                ),
                endpoint: endpoint
            )
        } catch {
            throw WeChatError(
                .transport(reason: "network error", mayHaveReachedWeChat: true, isTimeout: false),
                endpoint: endpoint
            )
        }
        guard (200..<300).contains(response.status) else {
            throw WeChatError(.httpStatus(response.status), endpoint: endpoint)
        }
        // WeChat sends JSON as text/plain on success, so the content type is not trusted either way.
        guard let object = JSONObject(bytes: response.body) else {
            throw WeChatError(.invalidResponse("not a JSON object"), endpoint: endpoint)
        }
        if let errcode = object.int("errcode"), errcode != 0 {
            throw WeChatError(.api(errcode: errcode, errmsg: object.string("errmsg") ?? ""), endpoint: endpoint)
        }
        return object
    }

    /// `name=value&…` with RFC 3986 percent-encoding.
    static func query(_ items: [(String, String)]) -> String {
        items.map { PercentEncoding.encode($0.0) + "=" + PercentEncoding.encode($0.1) }.joined(separator: "&")
    }
}

/// A decoded JSON object with lenient typed accessors (WeChat mixes numbers and strings).
///
/// Parsed by the same strict reader as events and request bodies (``EventJSON``): WeChat's answers are JSON
/// as RFC 8259 writes it, and one parser means one set of behaviours to fuzz. Only the *types* are lenient.
struct JSONObject: Sendable {
    let values: [String: EventJSON]

    init?(bytes: [UInt8]) {
        guard case .object(let members)? = try? EventJSON.parse(bytes) else { return nil }
        self.init(members: members)
    }

    /// A repeated name keeps its first value, as in events.
    init(members: [(String, EventJSON)]) {
        values = Dictionary(members, uniquingKeysWith: { first, _ in first })
    }

    func string(_ key: String) -> String? {
        switch values[key] {
        case .string(let text): text
        case .number(let text): Self.integer(text).map { String($0) } ?? text
        default: nil
        }
    }

    func int(_ key: String) -> Int? {
        switch values[key] {
        case .number(let text): Self.integer(text)
        case .string(let text): Int(text)
        default: nil
        }
    }

    /// A JSON number that is an integer in Int's range (`7200`, `7.2e3`), else nil: never a trap.
    private static func integer(_ text: String) -> Int? {
        if let exact = Int(text) { return exact }
        return Double(text).flatMap { Int(exactly: $0.rounded()) }
    }

    /// WeChat's tokens live 7200 s; a longer claimed `expires_in` is cut to that, which also keeps `now + expiresIn`
    /// far from overflowing whatever number the answer carries.
    static let longestTokenLifetime = 7200

    /// `expires_in`: positive, at most ``longestTokenLifetime``.
    func expiresIn(endpoint: String) throws(WeChatError) -> Int {
        guard let expiresIn = int("expires_in"), expiresIn > 0 else {
            throw WeChatError(.invalidResponse("no positive expires_in"), endpoint: endpoint)
        }
        return min(expiresIn, Self.longestTokenLifetime)
    }
}
