/// A value sent as a statement parameter, in PostgreSQL's binary format with its type named.
package protocol PostgresEncodable {
    /// The parameter's type OID.
    static var postgresType: UInt32 { get }
    /// The value in the type's binary format.
    var postgresBytes: [UInt8] { get }
}

/// A value read from a result cell in the binary format. The column's type must be one the decoder knows.
package protocol PostgresDecodable {
    static func decode(_ bytes: ArraySlice<UInt8>, type: UInt32) throws(PostgresDecodingError) -> Self
}

/// Type OIDs of the types wxauth uses.
package enum PostgresType {
    package static let bool: UInt32 = 16
    package static let bytea: UInt32 = 17
    package static let name: UInt32 = 19
    package static let int8: UInt32 = 20
    package static let int2: UInt32 = 21
    package static let int4: UInt32 = 23
    package static let text: UInt32 = 25
    package static let void: UInt32 = 2278
    package static let varchar: UInt32 = 1043
    package static let textArray: UInt32 = 1009
}

/// SQL with `$n` parameters. Interpolating a value appends a parameter and writes its `$n`, so values never
/// become SQL text.
package struct PostgresQuery: ExpressibleByStringInterpolation, Sendable {
    package var sql: String
    package var parameters: [PostgresParameter]

    /// SQL written out with its parameters, which the caller numbers `$1`… itself.
    package init(unsafeSQL sql: String, parameters: [PostgresParameter] = []) {
        self.sql = sql
        self.parameters = parameters
    }

    package init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    package init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, parameters: stringInterpolation.parameters)
    }

    package struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var parameters: [PostgresParameter] = []

        package init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        package mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        package mutating func appendInterpolation<T: PostgresEncodable>(_ value: T) {
            parameters.append(PostgresParameter(value))
            sql += "$\(parameters.count)"
        }

        package mutating func appendInterpolation<T: PostgresEncodable>(_ value: T?) {
            parameters.append(value.map { PostgresParameter($0) } ?? PostgresParameter(null: T.postgresType))
            sql += "$\(parameters.count)"
        }
    }
}

/// One parameter: its type and binary value (nil for NULL).
package struct PostgresParameter: Sendable, Equatable {
    package var type: UInt32
    package var bytes: [UInt8]?

    package init<T: PostgresEncodable>(_ value: T) {
        type = T.postgresType
        bytes = value.postgresBytes
    }

    package init(null type: UInt32) {
        self.type = type
        bytes = nil
    }
}

/// `bytea` bytes as a parameter (an array of bytes is otherwise ambiguous).
package struct PostgresBytes: PostgresEncodable, PostgresDecodable, Sendable, Equatable {
    package var bytes: [UInt8]
    package init(_ bytes: [UInt8]) { self.bytes = bytes }

    package static var postgresType: UInt32 { PostgresType.bytea }
    package var postgresBytes: [UInt8] { bytes }

    package static func decode(_ bytes: ArraySlice<UInt8>, type: UInt32) throws(PostgresDecodingError) -> PostgresBytes
    {
        guard type == PostgresType.bytea else { throw PostgresDecodingError(expected: "bytea", type: type) }
        return PostgresBytes(Array(bytes))
    }
}

extension String: PostgresEncodable, PostgresDecodable {
    package static var postgresType: UInt32 { PostgresType.text }
    package var postgresBytes: [UInt8] { Array(utf8) }

    package static func decode(_ bytes: ArraySlice<UInt8>, type: UInt32) throws(PostgresDecodingError) -> String {
        guard [PostgresType.text, PostgresType.varchar, PostgresType.name].contains(type) else {
            throw PostgresDecodingError(expected: "text", type: type)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Int64: PostgresEncodable, PostgresDecodable {
    package static var postgresType: UInt32 { PostgresType.int8 }
    package var postgresBytes: [UInt8] { (0..<8).reversed().map { UInt8(truncatingIfNeeded: self >> ($0 * 8)) } }

    /// Any integer column (int2, int4, int8), widened.
    package static func decode(_ bytes: ArraySlice<UInt8>, type: UInt32) throws(PostgresDecodingError) -> Int64 {
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
    package static var postgresType: UInt32 { PostgresType.int8 }
    package var postgresBytes: [UInt8] { Int64(self).postgresBytes }

    package static func decode(_ bytes: ArraySlice<UInt8>, type: UInt32) throws(PostgresDecodingError) -> Int {
        Int(try Int64.decode(bytes, type: type))
    }
}

extension Bool: PostgresDecodable {
    package static func decode(_ bytes: ArraySlice<UInt8>, type: UInt32) throws(PostgresDecodingError) -> Bool {
        guard type == PostgresType.bool, bytes.count == 1 else {
            throw PostgresDecodingError(expected: "bool", type: type)
        }
        return bytes.first != 0
    }
}

extension Array: PostgresEncodable where Element == String {
    package static var postgresType: UInt32 { PostgresType.textArray }

    /// The binary array format: one dimension, no NULLs, text elements.
    package var postgresBytes: [UInt8] {
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
package struct PostgresDecodingError: Error, CustomStringConvertible {
    package var description: String

    init(expected: String, type: UInt32) {
        description = "a column of type \(type) read as \(expected)"
    }

    init(_ description: String) {
        self.description = description
    }
}

/// One row of a result: binary cells and their column types.
package struct PostgresRow: Sendable {
    package var cells: [ArraySlice<UInt8>?]
    package var types: [UInt32]

    package init(cells: [ArraySlice<UInt8>?], types: [UInt32]) {
        self.cells = cells
        self.types = types
    }

    /// The cell at `index` as `T`; SQL NULL fails (use an optional type for nullable columns).
    package func decode<T: PostgresDecodable>(_: T.Type = T.self, at index: Int) throws(PostgresDecodingError) -> T {
        guard let value = try decode(T?.self, at: index) else { throw PostgresDecodingError("column \(index) is NULL") }
        return value
    }

    /// The cell at `index` as `T`, nil for SQL NULL.
    package func decode<T: PostgresDecodable>(_: T?.Type, at index: Int) throws(PostgresDecodingError) -> T? {
        guard cells.indices.contains(index), types.indices.contains(index) else {
            throw PostgresDecodingError("the row has no column \(index)")
        }
        guard let bytes = cells[index] else { return nil }
        return try T.decode(bytes, type: types[index])
    }
}

/// What a statement returned: its rows and the row count of its command tag (`UPDATE 3` → 3).
package struct PostgresResult: Sendable {
    package var rows: [PostgresRow]
    package var affectedRows: Int

    package var first: PostgresRow? { rows.first }
    package var count: Int { rows.count }
    package var isEmpty: Bool { rows.isEmpty }
}
