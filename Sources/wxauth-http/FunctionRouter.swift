import Foundation
import FunctionRuntime
import GatewayHTTP
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import WXAuth

/// Routes each request to its function and answers it exactly as the function answers the same event on stdin:
/// the request becomes a payload v2.0 event (``GatewayEvent``), the function's bytes core answers it, and the
/// response is mapped as API Gateway maps a proxy response. Unknown paths are 404, other methods 405 with
/// `Allow`, as `local-runner serve` answers them.
struct FunctionRouter: Sendable {
    struct Route: Sendable {
        var methods: [String]
        var harness: FunctionHarness
        var handler: FunctionHandler
    }

    let routes: [String: Route]

    init(routes: [String: Route]) {
        self.routes = routes
    }

    func respond(to request: Request, sourceIp: String) async -> Response {
        let path = request.uri.path
        let method = request.method.rawValue
        guard let route = routes[path] else { return GatewayHTTP.notRouted(path) }
        guard route.methods.contains(method) else { return GatewayHTTP.methodNotAllowed(path, allowed: route.methods) }
        let started = ContinuousClock.now
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: GatewayHTTP.maxBodyBytes)
        } catch {
            return GatewayHTTP.error(
                .contentTooLarge,
                "invalid_request",
                "the request body exceeds \(GatewayHTTP.maxBodyBytes) bytes"
            )
        }
        let event = GatewayEvent.v2(
            method: method,
            path: path,
            rawQueryString: request.uri.query ?? "",
            headerFields: request.headers.map { ($0.name.canonicalName, $0.value) },
            body: Array(buffer: body),
            sourceIp: sourceIp,
            requestId: FunctionHarness.randomRequestId()
        )
        let accepted = event.count <= route.harness.maxEventBytes ? event : nil
        let response = await route.harness.response(to: accepted, startedAt: started, handler: route.handler)
        return GatewayHTTP.response(response)
    }
}
