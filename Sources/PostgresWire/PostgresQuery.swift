/// A value sent as a statement parameter, in PostgreSQL's binary format with its type named.
public protocol PostgresEncodable {
    /// The parameter's type OID.
    static var postgresType: UInt32 { get }
    /// The value in the type's binary format.
    var postgresBytes: [UInt8] { get }
}

/// A value read from a result cell in the binary format. The column's type must be one the decoder knows.
public protocol PostgresDecodable {
    static func decode(_ bytes: ArraySlice<UInt8>, type: UInt32) throws(PostgresDecodingError) -> Self
}

/// Type OIDs of the types wxauth uses.
public enum PostgresType {
    public static let bool: UInt32 = 16
    public static let bytea: UInt32 = 17
    public static let name: UInt32 = 19
    public static let int8: UInt32 = 20
    public static let int2: UInt32 = 21
    public static let int4: UInt32 = 23
    public static let text: UInt32 = 25
    public static let void: UInt32 = 2278
    public static let varchar: UInt32 = 1043
    public static let textArray: UInt32 = 1009
}

/// SQL with `$n` parameters. Interpolating a value appends a parameter and writes its `$n`, so values never
/// become SQL text.
public struct PostgresQuery: ExpressibleByStringInterpolation, Sendable {
    public var sql: String
    public var parameters: [PostgresParameter]

    /// SQL written out with its parameters, which the caller numbers `$1`… itself.
    public init(unsafeSQL sql: String, parameters: [PostgresParameter] = []) {
        self.sql = sql
        self.parameters = parameters
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, parameters: stringInterpolation.parameters)
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var parameters: [PostgresParameter] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T) {
            parameters.append(PostgresParameter(value))
            sql += "$\(parameters.count)"
        }

        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T?) {
            parameters.append(value.map { PostgresParameter($0) } ?? PostgresParameter(null: T.postgresType))
            sql += "$\(parameters.count)"
        }
    }
}

/// One parameter: its type and binary value (nil for NULL).
public struct PostgresParameter: Sendable, Equatable {
    public var type: UInt32
    public var bytes: [UInt8]?

    public init<T: PostgresEncodable>(_ value: T) {
        type = T.postgresType
        bytes = value.postgresBytes
    }

    public init(null type: UInt32) {
        self.type = type
        bytes = nil
    }
}

/// `bytea` bytes as a parameter (an array of bytes is otherwise ambiguous).
public struct PostgresBytes: PostgresEncodable, PostgresDecodable, Sendable, Equatable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public static var postgresType: UInt32 { PostgresType.bytea }
    public var postgresBytes: [UInt8] { bytes }

    public static func decode(_ bytes: ArraySlice<UInt8>, type: UInt32) throws(PostgresDecodingError) -> PostgresBytes {
        guard type == PostgresType.bytea else { throw PostgresDecodingError(expected: "bytea", type: type) }
        return PostgresBytes(Array(bytes))
    }
}

extension String: PostgresEncodable, PostgresDecodable {
    public static var postgresType: UInt32 { PostgresType.text }
    public var postgresBytes: [UInt8] { Array(utf8) }

    public static func decode(_ bytes: ArraySlice<UInt8>, type: UInt32) throws(PostgresDecodingError) -> String {
        guard [PostgresType.text, PostgresType.varchar, PostgresType.name].contains(type) else {
            throw PostgresDecodingError(expected: "text", type: type)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Int64: PostgresEncodable, PostgresDecodable {
    public static var postgresType: UInt32 { PostgresType.int8 }
    public var postgresBytes: [UInt8] { (0..<8).reversed().map { UInt8(truncatingIfNeeded: self >> ($0 * 8)) } }

    /// Any integer column (int2, int4, int8), widened.
    public static func decode(_ bytes: ArraySlice<UInt8>, type: UInt32) throws(PostgresDecodingError) -> Int64 {
        let width: Int
        switch type {
        case PostgresType.int2: width = 2
        case PostgresType.int4: width = 4
        case PostgresType.int8: width = 8
        default: throw PostgresDecodingError(expected: "an integer", type: type)
        }
        guard bytes.count == width else { throw PostgresDecodingError(expected: "an integer", type: type) }
        var value: UInt64 = 0
        for byte in bytes { value = value << 8 | UInt64(byte) }
        // Sign-extend from the column's width.
        let shift = UInt64(64 - width * 8)
        return Int64(bitPattern: value << shift) >> shift
    }
}

extension Int: PostgresEncodable, PostgresDecodable {
    public static var postgresType: UInt32 { PostgresType.int8 }
    public var postgresBytes: [UInt8] { Int64(self).postgresBytes }

    public static func decode(_ bytes: ArraySlice<UInt8>, type: UInt32) throws(PostgresDecodingError) -> Int {
        Int(try Int64.decode(bytes, type: type))
    }
}

extension Bool: PostgresDecodable {
    public static func decode(_ bytes: ArraySlice<UInt8>, type: UInt32) throws(PostgresDecodingError) -> Bool {
        guard type == PostgresType.bool, bytes.count == 1 else { throw PostgresDecodingError(expected: "bool", type: type) }
        return bytes.first != 0
    }
}

extension Array: PostgresEncodable where Element == String {
    public static var postgresType: UInt32 { PostgresType.textArray }

    /// The binary array format: one dimension, no NULLs, text elements.
    public var postgresBytes: [UInt8] {
        var bytes: [UInt8] = []
        func int32(_ value: Int) { bytes += Int64(value).postgresBytes.suffix(4) }
        int32(1)  // dimensions
        int32(0)  // no NULLs
        int32(Int(PostgresType.text))
        int32(count)
        int32(1)  // lower bound
        for element in self {
            int32(element.utf8.count)
            bytes += element.utf8
        }
        return bytes
    }
}

/// A cell could not be read as the type asked for.
public struct PostgresDecodingError: Error, CustomStringConvertible {
    public var description: String

    init(expected: String, type: UInt32) {
        description = "a column of type \(type) read as \(expected)"
    }

    init(_ description: String) {
        self.description = description
    }
}

/// One row of a result: binary cells and their column types.
public struct PostgresRow: Sendable {
    public var cells: [ArraySlice<UInt8>?]
    public var types: [UInt32]

    public init(cells: [ArraySlice<UInt8>?], types: [UInt32]) {
        self.cells = cells
        self.types = types
    }

    /// The cell at `index` as `T`; SQL NULL fails (use an optional type for nullable columns).
    public func decode<T: PostgresDecodable>(_: T.Type = T.self, at index: Int) throws(PostgresDecodingError) -> T {
        guard let value = try decode(T?.self, at: index) else { throw PostgresDecodingError("column \(index) is NULL") }
        return value
    }

    /// The cell at `index` as `T`, nil for SQL NULL.
    public func decode<T: PostgresDecodable>(_: T?.Type, at index: Int) throws(PostgresDecodingError) -> T? {
        guard cells.indices.contains(index), types.indices.contains(index) else {
            throw PostgresDecodingError("the row has no column \(index)")
        }
        guard let bytes = cells[index] else { return nil }
        return try T.decode(bytes, type: types[index])
    }
}

/// What a statement returned: its rows and the row count of its command tag (`UPDATE 3` → 3).
public struct PostgresResult: Sendable {
    public var rows: [PostgresRow]
    public var affectedRows: Int

    public var first: PostgresRow? { rows.first }
    public var count: Int { rows.count }
    public var isEmpty: Bool { rows.isEmpty }
}
