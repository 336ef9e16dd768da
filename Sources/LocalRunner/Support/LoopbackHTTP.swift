import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Just enough HTTP/1.1 to call the in-process sandbox's control API on 127.0.0.1.
///
/// Not URLSession: with `--static-swift-stdlib`, FoundationNetworking links libcurl statically and the
/// build then needs libcurl's development package, which machines here do not have. Not
/// AsyncHTTPClient: it is not a dependency of this module, and one loopback request does not need it.
enum LoopbackHTTP {
    /// A response's status and body.
    struct Response {
        var status: Int
        var body: [UInt8]
    }

    /// A failed exchange; the text names the step, never the payload.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// `POST path` with a JSON body to `127.0.0.1:port`, waiting at most 10 s for the whole answer.
    static func postJSON(port: Int, path: String, body: String) throws(Failure) -> Response {
        let payload = Array(body.utf8)
        let head =
            "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(payload.count)\r\nConnection: close\r\n\r\n"
        let raw = try exchange(port: port, request: Array(head.utf8) + payload)
        return try parse(raw)
    }

    private static func exchange(port: Int, request: [UInt8]) throws(Failure) -> [UInt8] {
        #if canImport(Darwin)
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #else
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "cannot create a socket") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        // NIO builds the sockaddr: touching sockaddr_in's fields here fails MemberImportVisibility
        // whenever this file is compiled in one batch with a NIO-importing file (CNIOLinux owns them then).
        guard let address = try? SocketAddress(ipAddress: "127.0.0.1", port: port) else {
            throw Failure(description: "\(port) is not a port")
        }
        let connected = address.withSockAddr { connect(fd, $0, socklen_t($1)) }
        guard connected == 0 else { throw Failure(description: "cannot connect to 127.0.0.1:\(port)") }

        var sent = 0
        while sent < request.count {
            let count = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, 0) }
            guard count > 0 else { throw Failure(description: "the connection closed while sending") }
            sent += count
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if count == 0 { return response }
            guard count > 0 else { throw Failure(description: "no complete answer within 10 s") }
            response += buffer[..<count]
        }
    }

    static func parse(_ raw: [UInt8]) throws(Failure) -> Response {
        let separator = Array("\r\n\r\n".utf8)
        guard let end = raw.firstRange(of: separator) else { throw Failure(description: "malformed response") }
        let lines = String(decoding: raw[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
        let statusLine = lines.first?.split(separator: " ") ?? []
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            throw Failure(description: "malformed status line")
        }
        let body = Array(raw[end.upperBound...])
        let chunked = lines.dropFirst().contains {
            $0.lowercased().hasPrefix("transfer-encoding:") && $0.lowercased().contains("chunked")
        }
        return Response(status: status, body: chunked ? try dechunk(body) : body)
    }

    /// Decodes `Transfer-Encoding: chunked`: hex size, CRLF, data, CRLF, … until a zero size.
    private static func dechunk(_ bytes: [UInt8]) throws(Failure) -> [UInt8] {
        var result: [UInt8] = []
        var rest = bytes[...]
        let crlf = Array("\r\n".utf8)
        while let lineEnd = rest.firstRange(of: crlf) {
            let sizeText = String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { break }
            if size == 0 { return result }
            let start = lineEnd.upperBound
            guard rest.distance(from: start, to: rest.endIndex) >= size + 2 else { break }
            result += rest[start..<(start + size)]
            rest = rest[(start + size + 2)...]
        }
        throw Failure(description: "malformed chunked body")
    }
}
