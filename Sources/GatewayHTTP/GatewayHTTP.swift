import FunctionRuntime
import HTTPTypes
import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// What `local-runner serve` and `wxauth-http` share in front of the functions, so a request is answered the same
// by both: the client's address, the request limit, API Gateway's mapping of a proxy response to HTTP, and the
// answers for a path no function serves.

/// The request context of both servers: Hummingbird's core plus the client's address, for
/// `requestContext.http.sourceIp`.
package struct ClientAddressContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package let remoteAddress: SocketAddress?

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The client's IP address as the event's `sourceIp`; loopback when the channel has none (a Unix socket).
    package var sourceIp: String { remoteAddress?.ipAddress ?? "127.0.0.1" }
}

/// How both servers answer in front of the functions, as API Gateway does.
package enum GatewayHTTP {
    /// API Gateway's (and Lambda's) limit on a request body; a larger one is answered 413 unread.
    package static let maxBodyBytes = 6 * 1024 * 1024

    /// A function's response as HTTP, as API Gateway maps a payload v2.0 proxy response: headers in name order
    /// (framing headers left to the server, names HTTP cannot carry dropped), each cookie its own `Set-Cookie`.
    package static func response(
        status: Int,
        headers: [(name: String, value: String)],
        cookies: [String],
        body: [UInt8]
    )
        -> Response
    {
        var fields = HTTPFields()
        for (name, value) in headers.sorted(by: { $0.name < $1.name }) {
            guard let field = HTTPField.Name(name), ![.contentLength, .transferEncoding, .connection].contains(field)
            else { continue }
            fields.append(HTTPField(name: field, value: value))
        }
        for cookie in cookies { fields.append(HTTPField(name: .setCookie, value: cookie)) }
        return Response(
            status: HTTPResponse.Status(code: (100...599).contains(status) ? status : 502),
            headers: fields,
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }

    /// ``response(status:headers:cookies:body:)`` for a response of the functions' own core; a base64 body is
    /// decoded.
    package static func response(_ response: FunctionResponse) -> Response {
        let body: [UInt8] =
            response.isBase64Encoded
            ? Array(Data(base64Encoded: response.body, options: .ignoreUnknownCharacters) ?? Data())
            : Array(response.body.utf8)
        return Self.response(
            status: response.statusCode,
            headers: response.headers.map { (name: $0.key, value: $0.value) },
            cookies: response.cookies ?? [],
            body: body
        )
    }

    /// An error in the functions' own shape, `{"error", "error_description"}`, answered by the server itself.
    package static func error(_ status: HTTPResponse.Status, _ code: String, _ description: String) -> Response {
        response(.error(status.code, code: code, description: description))
    }

    /// 404 for a path no function is routed at.
    package static func notRouted(_ path: String) -> Response {
        error(.notFound, "not_found", "no function is routed at \(path)")
    }

    /// 405 with `Allow` for a method the path's functions do not accept.
    package static func methodNotAllowed(_ path: String, allowed methods: some Sequence<String>) -> Response {
        let allowed = Set(methods).sorted().joined(separator: ", ")
        var response = error(.methodNotAllowed, "method_not_allowed", "\(path) accepts \(allowed)")
        response.headers[.allow] = allowed
        return response
    }
}
