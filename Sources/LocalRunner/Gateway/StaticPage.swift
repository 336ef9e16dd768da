import GatewayHTTP
import HTTPTypes
import Hummingbird
import NIOCore

/// A fixed page the runner answers itself, without a function: its media type, body and any extra headers.
/// Every answer also has `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.
public struct StaticPage: Sendable {
    /// The `Content-Type`, e.g. `text/html; charset=utf-8`.
    public var contentType: String
    /// The body, sent as UTF-8.
    public var body: String
    /// More headers, e.g. a `Content-Security-Policy`.
    public var headers: [String: String]

    /// Creates a page.
    public init(contentType: String, body: String, headers: [String: String] = [:]) {
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }
}

extension StaticPage {
    /// A static page's answer: the page to `GET`, its headers to `HEAD`, 405 to any other method.
    func response(to method: String) -> Response {
        guard method == "GET" || method == "HEAD" else {
            return GatewayHTTP.methodNotAllowed("this page", allowed: ["GET", "HEAD"])
        }
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.cacheControl] = "no-store"
        headers[.xContentTypeOptions] = "nosniff"
        for (name, value) in self.headers.sorted(by: { $0.key < $1.key }) {
            if let fieldName = HTTPField.Name(name) { headers[fieldName] = value }
        }
        let body = ByteBuffer(string: method == "HEAD" ? "" : self.body)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}
