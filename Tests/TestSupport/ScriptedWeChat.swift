import Synchronization
import WeChat

/// WeChat played in memory, the one fake transport of the tests: each call gets the next scripted outcome (the
/// last one repeats) — from one script for every call, or from one script per endpoint path — and every request
/// is kept whole (method, URL, headers, body).
package final class ScriptedWeChat: WeChatTransport {
    /// What one call gets: WeChat's answer, or no answer at all.
    package enum Outcome: Sendable {
        /// Status, body and content type.
        case answer(Int, String, String?)
        case failure(TransportFailure)
    }

    private struct State {
        var shared: [Outcome]
        var routes: [String: [Outcome]]
        var requests: [WeChatHTTPRequest] = []
    }

    private let state: Mutex<State>

    /// Every call, whatever its path, from `outcomes` in order.
    package init(_ outcomes: [Outcome]) {
        state = Mutex(State(shared: outcomes, routes: [:]))
    }

    /// Every call answered 200 with these bodies in order, as `text/plain` (which jscode2session really sends).
    package convenience init(answering bodies: String...) {
        self.init(bodies.map { .answer(200, $0, "text/plain") })
    }

    /// Each endpoint path (`/sns/jscode2session`) from its own script of JSON bodies; a path without one is
    /// answered as WeChat answers an unknown URL (errcode 40066).
    package init(routes: [String: [String]]) {
        state = Mutex(State(shared: [], routes: routes.mapValues { $0.map { .answer(200, $0, "application/json") } }))
    }

    package var requests: [WeChatHTTPRequest] { state.withLock { $0.requests } }
    package var calls: Int { requests.count }
    package var urls: [String] { requests.map(\.url) }

    /// The bodies of the calls to `path`, in order.
    package func calls(_ path: String) -> [String] {
        requests.filter { Self.path(of: $0.url) == path }.map { String(decoding: $0.body ?? [], as: UTF8.self) }
    }

    package func send(_ request: WeChatHTTPRequest, timeout: Duration) async throws -> WeChatHTTPResponse {
        let outcome: Outcome = state.withLock { state in
            state.requests.append(request)
            if !state.shared.isEmpty {
                return state.shared.count > 1 ? state.shared.removeFirst() : state.shared[0]
            }
            let path = Self.path(of: request.url)
            guard var script = state.routes[path], !script.isEmpty else {
                return .answer(200, #"{"errcode":40066,"errmsg":"invalid url"}"#, "application/json")
            }
            let next = script.count > 1 ? script.removeFirst() : script[0]
            state.routes[path] = script
            return next
        }
        switch outcome {
        case .answer(let status, let body, let contentType):
            return WeChatHTTPResponse(status: status, contentType: contentType, body: Array(body.utf8))
        case .failure(let failure):
            throw failure
        }
    }

    /// The path of `scheme://host[:port]/path?query`.
    private static func path(of url: String) -> String {
        let afterScheme = url.firstRange(of: "://").map { url[$0.upperBound...] } ?? url[...]
        let fromPath = afterScheme.firstIndex(of: "/").map { afterScheme[$0...] } ?? "/"
        return String(fromPath.prefix { $0 != "?" })
    }
}
