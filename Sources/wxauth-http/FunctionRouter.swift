import Foundation
import FunctionRuntime
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
    /// API Gateway's (and Lambda's) limit on a request; a larger body is answered 413 unread.
    static let maxBodyBytes = 6 * 1024 * 1024

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
        guard let route = routes[path] else {
            return Self.error(.notFound, "not_found", "no function is routed at \(path)")
        }
        guard route.methods.contains(method) else {
            let allowed = route.methods.sorted().joined(separator: ", ")
            var response = Self.error(.methodNotAllowed, "method_not_allowed", "\(path) accepts \(allowed)")
            response.headers[.allow] = allowed
            return response
        }
        let started = ContinuousClock.now
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            return Self.error(
                .contentTooLarge,
                "invalid_request",
                "the request body exceeds \(Self.maxBodyBytes) bytes"
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
        return Self.http(response)
    }

    /// A function's response as HTTP, as API Gateway maps a payload v2.0 proxy response: each cookie its own
    /// `Set-Cookie`, a base64 body decoded, framing headers left to the server.
    static func http(_ response: FunctionResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in response.headers.sorted(by: { $0.key < $1.key }) {
            guard let field = HTTPField.Name(name), ![.contentLength, .transferEncoding, .connection].contains(field)
            else { continue }
            fields.append(HTTPField(name: field, value: value))
        }
        for cookie in response.cookies ?? [] { fields.append(HTTPField(name: .setCookie, value: cookie)) }
        let bytes: [UInt8] =
            response.isBase64Encoded
            ? Array(Data(base64Encoded: response.body, options: .ignoreUnknownCharacters) ?? Data())
            : Array(response.body.utf8)
        let status = (100...599).contains(response.statusCode) ? response.statusCode : 502
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: fields,
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    /// A server error in the functions' own shape, `{"error", "error_description"}`.
    static func error(_ status: HTTPResponse.Status, _ code: String, _ description: String) -> Response {
        http(.error(status.code, code: code, description: description))
    }
}
