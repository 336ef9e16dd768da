import Foundation
import Hummingbird
import NIOCore

/// Builders for the sandbox's HTTP answers.
enum Reply {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        // WeChat writes session_key's "/" unescaped; match it byte for byte where we can.
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    /// `value` as JSON.
    static func json(
        _ value: some Encodable,
        status: HTTPResponse.Status = .ok,
        contentType: String = "application/json"
    ) throws -> Response {
        let data = try encoder.encode(value)
        return Response(
            status: status,
            headers: [.contentType: contentType],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    /// A WeChat error: HTTP 200 with `{"errcode", "errmsg"}`, the errmsg ending in a `rid` as WeChat's do.
    static func wechatError(_ errcode: Int, _ errmsg: String) throws -> Response {
        try self.wechatErrorVerbatim(errcode, "\(errmsg), rid: \(TestUsers.rid())")
    }

    /// A WeChat error whose errmsg is sent exactly as given.
    static func wechatErrorVerbatim(_ errcode: Int, _ errmsg: String) throws -> Response {
        try self.json(WeChatErrorBody(errcode: errcode, errmsg: errmsg))
    }

    /// A plain-text answer, as a gateway in front of WeChat might give.
    static func text(_ text: String, status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }

    /// A control-API refusal: `{"error": message}`.
    static func controlError(_ message: String, status: HTTPResponse.Status = .badRequest) throws -> Response {
        try self.json(["error": message], status: status)
    }

    /// 204 with no body.
    static func noContent() -> Response {
        Response(status: .noContent)
    }
}

/// The body of every WeChat error.
struct WeChatErrorBody: Codable, Sendable {
    var errcode: Int
    var errmsg: String
}
