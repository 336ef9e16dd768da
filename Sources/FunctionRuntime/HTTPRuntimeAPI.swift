#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// AWS Lambda's Runtime API (2018-06-01) over ``RuntimeHTTPClient``.
public struct HTTPRuntimeAPI: RuntimeAPI {
    /// `host:port` from `AWS_LAMBDA_RUNTIME_API`.
    public var address: String

    public init(address: String) {
        self.address = address
    }

    public var requestIdLogKey: String { "aws_request_id" }

    private var client: RuntimeHTTPClient { RuntimeHTTPClient(address: address, setting: "AWS_LAMBDA_RUNTIME_API") }

    /// Lambda takes the first `invocation/next` as the end of initialisation.
    public func ready() async throws {}

    public func next() async throws -> RuntimeInvocation {
        let response = try client.exchange("GET", "/2018-06-01/runtime/invocation/next", headers: [], body: [])
        guard response.status == 200, let id = response.headers["lambda-runtime-aws-request-id"] else {
            throw RuntimeHTTPClient.Failure(description: "invocation/next answered HTTP \(response.status)")
        }
        return RuntimeInvocation(
            requestId: id,
            deadlineEpochMilliseconds: response.headers["lambda-runtime-deadline-ms"].flatMap { Int64($0) },
            traceId: response.headers["lambda-runtime-trace-id"],
            event: response.body
        )
    }

    /// API Gateway's payload v2.0 proxy response, exactly what the function writes on stdout.
    public func encode(_ response: FunctionResponse) -> [UInt8] {
        FunctionHarness.encode(response)
    }

    public func respond(requestId: String, body: [UInt8]) async throws {
        try client.post("/2018-06-01/runtime/invocation/\(requestId)/response", body: body, headers: [])
    }

    public func fail(requestId: String, errorType: String, errorMessage: String) async throws {
        try client.post(
            "/2018-06-01/runtime/invocation/\(requestId)/error", body: RuntimeHTTPClient.errorBody(errorType, errorMessage),
            headers: [("Lambda-Runtime-Function-Error-Type", "Unhandled")]
        )
    }

    public func failInitialization(errorType: String, errorMessage: String) async throws {
        try client.post(
            "/2018-06-01/runtime/init/error", body: RuntimeHTTPClient.errorBody(errorType, errorMessage),
            headers: [("Lambda-Runtime-Function-Error-Type", "Unhandled")]
        )
    }
}

/// A runtime API over plain HTTP/1.1 on a socket, one connection per call.
///
/// The API lives on the same host, so a tiny blocking client is enough, and it keeps an HTTP library out of
/// the start-up of every function binary.
struct RuntimeHTTPClient {
    /// `host:port`.
    var address: String
    /// The setting the address came from, for errors.
    var setting: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func errorBody(_ type: String, _ message: String) -> [UInt8] {
        Array(("{\"errorType\":" + JSONText.quote(type) + ",\"errorMessage\":" + JSONText.quote(message) + "}").utf8)
    }

    func post(_ path: String, body: [UInt8], headers: [(String, String)]) throws {
        let response = try exchange(
            "POST", path, headers: headers + [("Content-Type", "application/json")], body: body
        )
        guard (200..<300).contains(response.status) else {
            throw Failure(description: "\(path) answered HTTP \(response.status)")
        }
    }

    // MARK: - HTTP/1.1

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    func exchange(_ method: String, _ path: String, headers: [(String, String)], body: [UInt8]) throws -> Response {
        let fd = try connectSocket()
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(address)\r\nUser-Agent: wxauth\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\n\r\n"
        StandardStreams.writeAll(Array(head.utf8) + body, to: fd)
        // Connection: close, so the whole answer is everything up to the end of the stream.
        guard let raw = StandardStreams.readAll(from: fd, limit: 8 * 1024 * 1024) else {
            throw Failure(description: "the Runtime API answer is too large")
        }
        return try Self.parse(raw)
    }

    static func parse(_ raw: [UInt8]) throws -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = raw.indices.dropLast(3).first(where: { Array(raw[$0..<$0 + 4]) == separator }) else {
            throw Failure(description: "the Runtime API answer has no header end")
        }
        let lines = String(decoding: raw[..<end], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw Failure(description: "the Runtime API answer has no status")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingSpaces()
        }
        var body = Array(raw[(end + 4)...])
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            body = try dechunk(body)
        } else if let length = headers["content-length"].flatMap(Int.init), length <= body.count {
            body = Array(body.prefix(length))
        }
        return Response(status: status, headers: headers, body: body)
    }

    static func dechunk(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard let lineEnd = (index..<bytes.count - 1).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else {
                throw Failure(description: "a chunk has no size line")
            }
            let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingSpaces(), radix: 16), size >= 0 else {
                throw Failure(description: "bad chunk size")
            }
            if size == 0 { break }
            let start = lineEnd + 2
            // Compared as a difference: `start + size` could overflow for a size near Int.max.
            guard size <= bytes.count - start else { throw Failure(description: "a chunk is cut short") }
            out += bytes[start..<start + size]
            index = start + size + 2
        }
        return out
    }

    private func connectSocket() throws -> Int32 {
        let parts = address.split(separator: ":")
        guard parts.count == 2 else { throw Failure(description: "\(setting) must be host:port") }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(String(parts[0]), String(parts[1]), &hints, &list) == 0, let first = list else {
            throw Failure(description: "cannot resolve the Runtime API host")
        }
        defer { freeaddrinfo(list) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            let fd = socket(current.pointee.ai_family, current.pointee.ai_socktype, current.pointee.ai_protocol)
            if fd >= 0 {
                if connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0 { return fd }
                close(fd)
            }
            entry = current.pointee.ai_next
        }
        throw Failure(description: "cannot connect to the Runtime API")
    }
}
