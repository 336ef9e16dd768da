/// A message from the server, cut from the byte stream by ``BackendMessageReader``: its type byte and body.
package struct BackendMessage: Equatable, Sendable {
    package var type: UInt8
    package var body: ArraySlice<UInt8>

    package init(type: UInt8, body: ArraySlice<UInt8>) {
        self.type = type
        self.body = body
    }
}

/// Cuts backend messages out of received bytes. Every length comes from the server and is checked before use:
/// below 4 or above ``maximumLength`` is a protocol violation, so a hostile or broken server cannot make the
/// client allocate or wait for gigabytes.
package struct BackendMessageReader: Sendable {
    /// The largest message accepted, length field included: far above any row wxauth reads.
    package static let maximumLength = 64 << 20

    /// Bytes received and not yet returned as messages, from ``start``.
    package private(set) var buffer: [UInt8] = []
    private var start = 0

    package init() {}

    /// Adds received bytes.
    package mutating func append(_ bytes: some Collection<UInt8>) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Gives `body` the buffer to append to directly (a socket read), avoiding a copy.
    package mutating func withAppending<T, E: Error>(_ body: (inout [UInt8]) throws(E) -> T) throws(E) -> T {
        compact()
        return try body(&buffer)
    }

    /// The number of bytes received and not yet consumed.
    package var pending: Int { buffer.count - start }

    /// The next complete message, nil when more bytes are needed.
    package mutating func next() throws(PostgresWireError) -> BackendMessage? {
        guard pending >= 5 else { return nil }
        let length = Self.int32(buffer, at: start + 1)
        guard length >= 4, Int(length) <= Self.maximumLength else {
            throw PostgresWireError("the server sent a message of an impossible length")
        }
        let end = start + 1 + Int(length)
        guard buffer.count >= end else { return nil }
        let message = BackendMessage(type: buffer[start], body: buffer[(start + 5)..<end])
        start = end
        return message
    }

    /// Takes one raw byte (the answer to an SSLRequest, which is not a framed message).
    package mutating func nextByte() -> UInt8? {
        guard pending > 0 else { return nil }
        defer { start += 1 }
        return buffer[start]
    }

    private mutating func compact() {
        guard start > 0 else { return }
        buffer.removeFirst(start)
        start = 0
    }

    static func int32(_ bytes: [UInt8], at index: Int) -> Int32 {
        Int32(
            bitPattern: UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16 | UInt32(bytes[index + 2]) << 8
                | UInt32(bytes[index + 3])
        )
    }
}

/// Reads the fields of one message body; every read is bounds-checked and fails as a protocol error.
package struct MessageFields {
    private var bytes: ArraySlice<UInt8>

    package init(_ body: ArraySlice<UInt8>) {
        bytes = body
    }

    package var isAtEnd: Bool { bytes.isEmpty }

    package mutating func byte() throws(PostgresWireError) -> UInt8 {
        guard let first = bytes.popFirst() else { throw Self.short }
        return first
    }

    package mutating func int16() throws(PostgresWireError) -> Int16 {
        let raw = try take(2)
        return Int16(bitPattern: UInt16(raw[raw.startIndex]) << 8 | UInt16(raw[raw.startIndex + 1]))
    }

    package mutating func int32() throws(PostgresWireError) -> Int32 {
        let raw = try take(4)
        var value: UInt32 = 0
        for byte in raw { value = value << 8 | UInt32(byte) }
        return Int32(bitPattern: value)
    }

    package mutating func take(_ count: Int) throws(PostgresWireError) -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count >= count else { throw Self.short }
        defer { bytes = bytes.dropFirst(count) }
        return bytes.prefix(count)
    }

    /// The rest of the body.
    package mutating func rest() -> ArraySlice<UInt8> {
        defer { bytes = bytes.suffix(0) }
        return bytes
    }

    /// A NUL-terminated string (decoded leniently: server texts are for logs and comparisons only).
    package mutating func cString() throws(PostgresWireError) -> String {
        guard let end = bytes.firstIndex(of: 0) else { throw Self.short }
        defer { bytes = bytes[(end + 1)...] }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }

    private static var short: PostgresWireError { PostgresWireError("the server sent a malformed message") }
}

/// The fields of an ErrorResponse or NoticeResponse, by their one-letter codes (`C` the SQLSTATE, `M` the message).
package func parseNoticeFields(_ body: ArraySlice<UInt8>) throws(PostgresWireError) -> [UInt8: String] {
    var fields = MessageFields(body)
    var result: [UInt8: String] = [:]
    while true {
        let code = try fields.byte()
        if code == 0 { return result }
        result[code] = try fields.cString()
    }
}

/// A DataRow's cells: nil for SQL NULL. Each length is checked against the bytes actually present.
package func parseDataRow(_ body: ArraySlice<UInt8>) throws(PostgresWireError) -> [ArraySlice<UInt8>?] {
    var fields = MessageFields(body)
    let count = try fields.int16()
    guard count >= 0 else { throw PostgresWireError("the server sent a malformed row") }
    var cells: [ArraySlice<UInt8>?] = []
    cells.reserveCapacity(Int(count))
    for _ in 0..<count {
        let length = try fields.int32()
        if length == -1 {
            cells.append(nil)
        } else {
            guard length >= 0 else { throw PostgresWireError("the server sent a malformed row") }
            cells.append(try fields.take(Int(length)))
        }
    }
    guard fields.isAtEnd else { throw PostgresWireError("the server sent a malformed row") }
    return cells
}

/// A RowDescription's column type OIDs, in order.
package func parseRowDescription(_ body: ArraySlice<UInt8>) throws(PostgresWireError) -> [UInt32] {
    var fields = MessageFields(body)
    let count = try fields.int16()
    guard count >= 0 else { throw PostgresWireError("the server sent a malformed row description") }
    var types: [UInt32] = []
    for _ in 0..<count {
        _ = try fields.cString()  // name
        _ = try fields.take(6)  // table OID, column number
        types.append(UInt32(bitPattern: try fields.int32()))
        _ = try fields.take(8)  // type size, modifier, format
    }
    return types
}

/// A protocol violation or unusable answer from the server: the connection cannot be trusted any more.
package struct PostgresWireError: Error, CustomStringConvertible, Equatable {
    package var description: String
    package init(_ description: String) { self.description = description }
}
