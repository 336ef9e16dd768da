/// Watches the client's calls to WeChat: the circuit breaker that may hold them back, and the metrics of the
/// invocation that made them. Installed per invocation through ``WeChatCalls/observer``, so one warm client
/// serves invocations that each count their own calls.
public protocol WeChatCallObserver: Sendable {
    /// Asked before every attempt: nil lets it go ahead; a duration refuses it (the circuit is open) and says
    /// how long until WeChat may be called again.
    func holdBack(endpoint: String) async -> Duration?

    /// Told after every attempt: how long it took and how it ended.
    func attempted(endpoint: String, latency: Duration, outcome: WeChatCallOutcome) async
}

/// How one attempt ended, as a circuit breaker sees it.
public enum WeChatCallOutcome: Sendable, Equatable {
    /// WeChat answered, successfully or with an error about the request (a bad code, …): it is up.
    case answered
    /// WeChat answered, but with an error (an errcode, an unexpected body): up, yet the call failed.
    case refused
    /// No usable answer, or WeChat said it is overloaded (-1, 45011, an HTTP 5xx, a timeout): what opens
    /// the circuit.
    case failed
}

/// The observer of the current task's WeChat calls.
public enum WeChatCalls {
    @TaskLocal public static var observer: (any WeChatCallObserver)?
}

extension WeChatError {
    /// Whether this failure says WeChat itself is down or overloaded, rather than refusing this request.
    var isOutage: Bool {
        switch kind {
        case .transport, .deadlineExceeded: true
        case .httpStatus(let status): status >= 500
        case .api(let errcode, _): errcode == -1 || errcode == 45011
        case .invalidResponse, .circuitOpen: false
        }
    }
}
