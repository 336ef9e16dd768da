import FunctionRuntime
import Logging
import WeChat

/// A refusal the caller sees: CONTRACT §3's error code, HTTP status and a description safe to show.
public struct AuthError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var description: String
    /// WeChat's errcode when WeChat refused.
    public var wechatErrcode: Int?
    public var headers: [String: String]

    public init(status: Int, code: String, description: String, wechatErrcode: Int? = nil, headers: [String: String] = [:]) {
        self.status = status
        self.code = code
        self.description = description
        self.wechatErrcode = wechatErrcode
        self.headers = headers
    }

    public static func invalidRequest(_ text: String) -> AuthError {
        AuthError(status: 400, code: "invalid_request", description: text)
    }

    public static func invalidGrant(_ text: String, wechatErrcode: Int? = nil) -> AuthError {
        AuthError(status: 400, code: "invalid_grant", description: text, wechatErrcode: wechatErrcode)
    }

    /// A web callback's `state` that is missing, forged, expired or replayed.
    public static func invalidState(_ text: String) -> AuthError {
        AuthError(status: 400, code: "invalid_state", description: text)
    }

    public static func invalidToken(_ text: String) -> AuthError {
        AuthError(
            status: 401, code: "invalid_token", description: text,
            headers: ["www-authenticate": #"Bearer realm="wxauth", error="invalid_token""#]
        )
    }

    /// A server-to-server call without a valid signature (CONTRACT §9).
    public static func invalidClient(_ text: String) -> AuthError {
        AuthError(
            status: 401, code: "invalid_client", description: text,
            headers: ["www-authenticate": #"WXAuth-HMAC-SHA256 realm="wxauth""#]
        )
    }

    public static func accessDenied(_ text: String, wechatErrcode: Int? = nil) -> AuthError {
        AuthError(status: 403, code: "access_denied", description: text, wechatErrcode: wechatErrcode)
    }

    public static func methodNotAllowed(_ method: String, allowed: [String]) -> AuthError {
        AuthError(
            status: 405, code: "method_not_allowed", description: "\(method) is not allowed here",
            headers: ["allow": allowed.joined(separator: ", ")]
        )
    }

    public static func unavailable(_ text: String, retryAfter: Int, wechatErrcode: Int? = nil) -> AuthError {
        AuthError(
            status: 503, code: "temporarily_unavailable", description: text, wechatErrcode: wechatErrcode,
            headers: ["retry-after": String(retryAfter)]
        )
    }

    /// A missing or invalid setting; `text` names the setting, never its value.
    public static func misconfigured(_ text: String, wechatErrcode: Int? = nil) -> AuthError {
        AuthError(status: 500, code: "server_error", description: text, wechatErrcode: wechatErrcode)
    }

    public static func notImplemented(_ text: String) -> AuthError {
        AuthError(status: 501, code: "server_error", description: text)
    }

    /// The response that carries this error.
    public var response: FunctionResponse {
        var headers = self.headers
        headers["cache-control"] = "no-store"
        return .error(
            status, code: code, description: description,
            extra: wechatErrcode.map { ["wechat_errcode": $0] } ?? [:],
            headers: headers
        )
    }
}

extension AuthError {
    /// How a WeChat failure during a sign-in reaches the caller (CONTRACT §3).
    public init(_ error: WeChatError) {
        if let retryAfter = error.circuitOpenRetryAfter {
            self = .unavailable("WeChat has been failing, so sign-ins are paused; try again later", retryAfter: retryAfter)
            return
        }
        let errcode = error.errcode
        switch error.category {
        case .invalidCode:
            self = .invalidGrant("the WeChat code is invalid, expired or already used", wechatErrcode: errcode)
        case .blockedUser:
            self = .accessDenied("WeChat blocked this sign-in (high-risk account)", wechatErrcode: errcode)
        case .configuration, .appTokenInvalid:
            self = .misconfigured(
                "WeChat rejected the app's configuration (check the app id, secret and IP allow-list)",
                wechatErrcode: errcode
            )
        case .busy:
            self = .unavailable("WeChat is busy; try again", retryAfter: 1, wechatErrcode: errcode)
        case .rateLimited:
            self = .unavailable("WeChat's rate limit was hit; try again in a minute", retryAfter: 60, wechatErrcode: errcode)
        case .refreshTokenInvalid, .userTokenInvalid:
            self = .invalidGrant("the WeChat authorisation has expired; sign in again", wechatErrcode: errcode)
        case .insufficientScope:
            self = .accessDenied("the WeChat authorisation does not include the profile", wechatErrcode: errcode)
        case .invalidParameter:
            self = .invalidRequest("WeChat refused a parameter (errcode \(errcode ?? 0))")
            wechatErrcode = errcode
        case .unavailable:
            self = .unavailable("WeChat did not answer in time; try again with a new code", retryAfter: 2)
        default:
            self = AuthError(
                status: 500, code: "server_error", description: "WeChat answered an unexpected error",
                wechatErrcode: errcode
            )
        }
    }
}

extension Logger {
    /// One log line for a WeChat refusal: its errcode and category, never the request (which holds secrets).
    func wechatRefused(_ message: Logger.Message, _ error: WeChatError) {
        notice(message, metadata: ["errcode": "\(error.errcode.map(String.init) ?? "-")", "category": "\(error.category)"])
    }
}
