/// Why an HTTP/1.1 exchange failed. The text names the step, never the bytes: an answer may come from anywhere,
/// and a request may carry secrets.
package struct HTTPWireError: Error, Sendable, Equatable, CustomStringConvertible {
    package var description: String
    /// Whether the request may have reached the server: false only when no byte of it was sent.
    package var mayHaveReachedServer: Bool
    /// Whether the deadline passed.
    package var isTimeout: Bool

    package init(_ description: String, mayHaveReachedServer: Bool = true, isTimeout: Bool = false) {
        self.description = description
        self.mayHaveReachedServer = mayHaveReachedServer
        self.isTimeout = isTimeout
    }
}

/// One header field as received; the name lower-cased.
package struct HTTPWireField: Sendable, Equatable {
    package var name: String
    package var value: String

    package init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A complete HTTP/1.1 response.
package struct HTTPWireResponse: Sendable, Equatable {
    package var status: Int
    /// In the order received, names lower-cased.
    package var headers: [HTTPWireField]
    package var body: [UInt8]

    /// The first value of the header `name` (any case).
    package func header(_ name: String) -> String? {
        let name = name.lowercased()
        return headers.first { $0.name == name }?.value
    }
}

/// Reads one HTTP/1.1 response from bytes as they arrive, within limits: a broken or hostile peer gets an
/// error — never unbounded memory, a trap or a wait for bytes that will not come.
///
/// Handles what real servers send a client: `Content-Length`, `Transfer-Encoding: chunked` (extensions and
/// trailers skipped), a body up to the end of the stream, interim `1xx` answers before the final one, and no body
/// for `HEAD`, `204` and `304`. Lines must end in CRLF; folded header lines and conflicting lengths are refused
/// (RFC 9112 §§ 5.2, 6.3), which closes the doors request smuggling uses.
package struct HTTPResponseParser {
    /// The most a status line and its header fields may take (per response, interim ones included).
    package static let defaultHeadLimit = 64 * 1024
    /// More header fields than this is not an answer a client needs.
    package static let maxHeaderFields = 128

    private let headLimit: Int
    private let bodyLimit: Int
    private let bodyAllowed: Bool

    private enum Stage {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case done
    }

    private var stage = Stage.head
    private var endedWithConnection = false
    /// Received bytes not yet consumed.
    private var pending: [UInt8] = []
    /// Where the search for the end of the head resumes, so a head arriving byte by byte is scanned once.
    private var headScanned = 0
    /// Bytes of head (and trailer) lines read so far for this response.
    private var headBytes = 0
    private var status = 0
    private var headers: [HTTPWireField] = []
    private var body: [UInt8] = []

    /// A parser for the answer to one request; `isHEAD` when the request was `HEAD` (its answer has no body).
    package init(bodyLimit: Int, headLimit: Int = defaultHeadLimit, isHEAD: Bool = false) {
        self.bodyLimit = max(0, bodyLimit)
        self.headLimit = max(0, headLimit)
        self.bodyAllowed = !isHEAD
    }

    /// Takes the next bytes received; returns the response once it is complete (bytes after it are ignored:
    /// every exchange here uses its own connection).
    package mutating func feed(_ bytes: some Collection<UInt8>) throws(HTTPWireError) -> HTTPWireResponse? {
        if case .done = stage { return response }
        if case .untilClose = stage {
            try appendBody(bytes)
            return nil
        }
        pending.append(contentsOf: bytes)
        var consumed = 0
        defer {
            if consumed > 0 {
                pending.removeFirst(consumed)
                headScanned = max(0, headScanned - consumed)
            }
        }
        while true {
            switch stage {
            case .head:
                guard let end = headEnd(from: consumed) else {
                    guard pending.count - consumed <= headLimit - headBytes else {
                        throw HTTPWireError("the answer's header is larger than \(headLimit) bytes")
                    }
                    return nil
                }
                headBytes += end - consumed
                guard headBytes <= headLimit else {
                    throw HTTPWireError("the answer's header is larger than \(headLimit) bytes")
                }
                try readHead(pending[consumed..<end - 4])
                consumed = end
                headScanned = end
            case .fixed(let remaining):
                let take = min(remaining, pending.count - consumed)
                body.append(contentsOf: pending[consumed..<consumed + take])
                consumed += take
                if take == remaining {
                    stage = .done
                } else {
                    stage = .fixed(remaining: remaining - take)
                    return nil
                }
            case .chunkSize:
                guard let lineEnd = try lineEnd(from: consumed, limit: 1024) else { return nil }
                let size = try Self.chunkSize(pending[consumed..<lineEnd])
                consumed = lineEnd + 2
                guard size <= bodyLimit - body.count else { throw bodyTooLarge }
                stage = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let take = min(remaining, pending.count - consumed)
                body.append(contentsOf: pending[consumed..<consumed + take])
                consumed += take
                guard take == remaining else {
                    stage = .chunkData(remaining: remaining - take)
                    return nil
                }
                stage = .chunkDataEnd
            case .chunkDataEnd:
                guard pending.count - consumed >= 2 else { return nil }
                guard pending[consumed] == 13, pending[consumed + 1] == 10 else {
                    throw HTTPWireError("a chunk of the answer does not end where its size says")
                }
                consumed += 2
                stage = .chunkSize
            case .trailers:
                guard let lineEnd = try lineEnd(from: consumed, limit: headLimit) else { return nil }
                headBytes += lineEnd + 2 - consumed
                guard headBytes <= headLimit else { throw HTTPWireError("the answer's trailers are too large") }
                let empty = lineEnd == consumed
                consumed = lineEnd + 2
                if empty { stage = .done }
            case .untilClose:
                let rest = pending[consumed...]
                consumed = pending.count
                try appendBody(rest)
                return nil
            case .done:
                return response
            }
        }
    }

    /// The peer closed the stream: the response if it is complete (or ends with the stream), else an error.
    package mutating func finish() throws(HTTPWireError) -> HTTPWireResponse {
        switch stage {
        case .done:
            return response
        case .untilClose:
            stage = .done
            endedWithConnection = true
            return response
        case .head where pending.isEmpty && headers.isEmpty && status == 0:
            throw HTTPWireError("the connection closed without an answer")
        default:
            throw HTTPWireError("the connection closed before the whole answer arrived")
        }
    }

    /// Whether the complete response carried its own length (fixed, chunked or none), so the connection can
    /// carry another request; false for a body that ended with the connection.
    package var isDelimited: Bool {
        if case .done = stage { return !endedWithConnection }
        return false
    }

    private var response: HTTPWireResponse { HTTPWireResponse(status: status, headers: headers, body: body) }

    private var bodyTooLarge: HTTPWireError { HTTPWireError("the answer's body is larger than \(bodyLimit) bytes") }

    private mutating func appendBody(_ bytes: some Collection<UInt8>) throws(HTTPWireError) {
        guard bytes.count <= bodyLimit - body.count else { throw bodyTooLarge }
        body.append(contentsOf: bytes)
    }

    /// The index just past the CRLFCRLF ending the head, if it has arrived.
    private mutating func headEnd(from start: Int) -> Int? {
        var index = max(start, headScanned - 3)
        while index + 4 <= pending.count {
            if pending[index] == 13, pending[index + 1] == 10, pending[index + 2] == 13, pending[index + 3] == 10 {
                return index + 4
            }
            index += 1
        }
        headScanned = max(start, pending.count)
        return nil
    }

    /// The index of the CR of the next CRLF at or after `start`, nil until it arrives; throws when the line is
    /// already longer than `limit` (a peer sending one endless line).
    private func lineEnd(from start: Int, limit: Int) throws(HTTPWireError) -> Int? {
        var index = start
        while index + 1 < pending.count {
            if pending[index] == 13, pending[index + 1] == 10 { return index }
            index += 1
        }
        guard pending.count - start <= limit else { throw HTTPWireError("a line of the answer is too long") }
        return nil
    }

    private mutating func readHead(_ head: ArraySlice<UInt8>) throws(HTTPWireError) {
        var lines = Self.split(head)
        guard !lines.isEmpty else { throw HTTPWireError("the answer has no status line") }
        let statusLine = lines.removeFirst()
        status = try Self.status(statusLine)
        headers = []
        for line in lines {
            guard headers.count < Self.maxHeaderFields else {
                throw HTTPWireError("the answer has too many header fields")
            }
            headers.append(try Self.field(line))
        }
        if (100..<200).contains(status) {
            guard status != 101 else { throw HTTPWireError("the server switched protocols") }
            // An interim answer (100 Continue, 103 Early Hints): the final one follows.
            headers = []
            status = 0
            return
        }
        guard bodyAllowed, status != 204, status != 304 else {
            stage = .done
            return
        }
        if let codings = values("transfer-encoding") {
            let last = codings.last?.split(separator: ",").last.map { String($0).trimmingWhitespace().lowercased() }
            // A body not chunked last has no length of its own: it ends with the connection (RFC 9112 § 6.3).
            stage = last == "chunked" ? .chunkSize : .untilClose
            return
        }
        if let lengths = values("content-length") {
            let parsed = lengths.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map {
                Self.decimal(String($0).trimmingWhitespace())
            }
            guard let length = parsed.first ?? nil, parsed.allSatisfy({ $0 == length }) else {
                throw HTTPWireError("the answer's Content-Length is invalid or contradicts itself")
            }
            guard length <= bodyLimit else { throw bodyTooLarge }
            stage = length == 0 ? .done : .fixed(remaining: length)
            return
        }
        stage = .untilClose
    }

    private func values(_ name: String) -> [String]? {
        let found = headers.filter { $0.name == name }.map(\.value)
        return found.isEmpty ? nil : found
    }

    /// CRLF-separated lines; a lone CR or LF inside a line is refused later by the line's own checks.
    private static func split(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var index = bytes.startIndex
        while index + 1 < bytes.endIndex {
            if bytes[index] == 13, bytes[index + 1] == 10 {
                lines.append(bytes[start..<index])
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        lines.append(bytes[start..<bytes.endIndex])
        return lines
    }

    /// `HTTP/1.x SSS reason`.
    private static func status(_ line: ArraySlice<UInt8>) throws(HTTPWireError) -> Int {
        let bytes = Array(line)
        let prefix = Array("HTTP/1.".utf8)
        guard bytes.count >= 12, Array(bytes[0..<7]) == prefix, isDigit(bytes[7]), bytes[8] == 32,
            isDigit(bytes[9]), isDigit(bytes[10]), isDigit(bytes[11]), bytes.count == 12 || bytes[12] == 32
        else { throw HTTPWireError("the answer's status line is malformed") }
        let status = Int(bytes[9] - 48) * 100 + Int(bytes[10] - 48) * 10 + Int(bytes[11] - 48)
        guard (100...599).contains(status) else { throw HTTPWireError("the answer's status is out of range") }
        return status
    }

    /// `name: value`, the name a token with no space before the colon, the value free of control bytes.
    private static func field(_ line: ArraySlice<UInt8>) throws(HTTPWireError) -> HTTPWireField {
        guard let first = line.first, first != 32, first != 9 else {
            throw HTTPWireError("the answer has a folded or empty header line")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
            line[line.startIndex..<colon].allSatisfy(isTokenByte)
        else { throw HTTPWireError("the answer has a malformed header field") }
        let value = line[(colon + 1)...]
        guard value.allSatisfy({ $0 == 9 || ($0 >= 32 && $0 != 127) }) else {
            throw HTTPWireError("the answer has a control character in a header field")
        }
        return HTTPWireField(
            name: String(decoding: line[line.startIndex..<colon], as: UTF8.self).lowercased(),
            value: String(decoding: value, as: UTF8.self).trimmingWhitespace()
        )
    }

    /// A chunk-size line: 1 to 15 hex digits (so the size fits any Int), then optional `;extensions`.
    private static func chunkSize(_ line: ArraySlice<UInt8>) throws(HTTPWireError) -> Int {
        var size = 0
        var digits = 0
        for byte in line {
            guard let digit = hexValue(byte) else {
                guard digits > 0, byte == UInt8(ascii: ";") || byte == 32 || byte == 9 else {
                    throw HTTPWireError("a chunk size of the answer is malformed")
                }
                break
            }
            digits += 1
            guard digits <= 15 else { throw HTTPWireError("a chunk size of the answer is too large") }
            size = size << 4 | digit
        }
        guard digits > 0 else { throw HTTPWireError("a chunk size of the answer is malformed") }
        return size
    }

    /// 1 to 18 decimal digits (so it fits any Int), nothing else; nil otherwise.
    private static func decimal(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 18, bytes.allSatisfy(isDigit) else { return nil }
        return bytes.reduce(0) { $0 * 10 + Int($1 - 48) }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 48...57: Int(byte - 48)
        case 65...70: Int(byte - 55)
        case 97...102: Int(byte - 87)
        default: nil
        }
    }

    /// RFC 9110's `tchar`.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 48...57, 65...90, 97...122: true
        default: Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    func trimmingWhitespace() -> String {
        let bytes = Array(utf8)
        guard let first = bytes.firstIndex(where: { $0 != 32 && $0 != 9 }),
            let last = bytes.lastIndex(where: { $0 != 32 && $0 != 9 })
        else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}
