import Hummingbird
import Logging
import NIOCore

/// Per-request context that keeps hold of the connection, so a fault can drop it.
struct SandboxRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

/// One emulated WeChat API: its path and how it answers when no fault intervenes.
///
/// Each API lives in its own file as a static member; listing it in ``all`` serves it, counts its
/// calls and makes it a target for faults.
struct WeChatEndpoint: Sendable {
    typealias Handler = @Sendable (Request, SandboxRequestContext, SandboxState) async throws -> Response

    var path: String
    var methods: [HTTPRequest.Method]
    var handler: Handler

    /// Every WeChat API the sandbox serves.
    static let all: [WeChatEndpoint] = [
        .jscode2session, .stableToken, .getUserPhoneNumber, .webAccessToken, .webRefreshToken, .webAuth, .webUserInfo,
    ]

    /// Answers a call: counts it, applies the next queued fault, otherwise runs the real handler.
    func respond(to request: Request, context: SandboxRequestContext, state: SandboxState) async throws -> Response {
        guard let fault = await state.beginCall(self.path) else {
            return try await self.handler(request, context, state)
        }
        context.logger.debug("Applying sandbox fault", metadata: ["sandbox.endpoint": "\(self.path)"])
        if let delay = fault.delayMilliseconds, delay > 0 {
            try await Task.sleep(for: .milliseconds(delay))
        }
        if fault.drop == true {
            // Closing before anything is written leaves the client with a connection closed
            // mid-exchange, which is what a network failure between us and WeChat looks like.
            try? await context.channel.close()
            throw ConnectionDropped()
        }
        if let status = fault.status {
            let status = HTTPResponse.Status(code: status)
            return Reply.text(status.reasonPhrase, status: status)
        }
        if let errcode = fault.errcode {
            if let errmsg = fault.errmsg {
                return try Reply.wechatErrorVerbatim(errcode, errmsg)
            }
            return try Reply.wechatError(errcode, SandboxFault.defaultErrmsg(for: errcode))
        }
        return try await self.handler(request, context, state)
    }
}

/// Thrown after a fault closed the connection, so nothing more is attempted on it.
struct ConnectionDropped: Error {}

/// WeChat answers any path it does not know, including a wrongly cased one, with 40066 and HTTP 200.
struct UnknownPathMiddleware: RouterMiddleware {
    typealias Context = SandboxRequestContext

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return try Reply.wechatError(40066, "invalid url")
        }
    }
}
