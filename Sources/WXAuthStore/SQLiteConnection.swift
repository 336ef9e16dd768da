// The system's SQLite through its C API: a function process makes a handful of tiny queries, and the synchronous
// API needs no thread pool or event loop. (Not sqlite-nio, whose bundled copy comes only with its NIO-based
// module: every function would link NIOCore and NIOPosix, and each cold start scan their conformance records.)
import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A value bound to or read from an SQL statement.
enum SQLValue: Sendable, Equatable {
    case text(String)
    case integer(Int64)
    case blob([UInt8])
    case null
}

extension SQLValue {
    var text: String? { if case .text(let value) = self { value } else { nil } }
    var integer: Int64? { if case .integer(let value) = self { value } else { nil } }
    var blob: [UInt8]? { if case .blob(let value) = self { value } else { nil } }
}

private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One open SQLite connection. Not thread-safe by itself: ``SQLiteStore`` serialises access to it.
final class SQLiteConnection {
    private var handle: OpaquePointer?

    /// Opens (creating if needed) the database file and its directory.
    init(path: String, busyTimeoutMilliseconds: Int32) throws {
        if path != ":memory:" {
            Self.createParentDirectory(of: path)
        }
        var raw: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &raw, flags, nil)
        handle = raw
        guard status == SQLITE_OK else {
            let message = raw.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(raw)
            handle = nil
            throw StoreError("cannot open the SQLite database: \(message)")
        }
        sqlite3_busy_timeout(raw, busyTimeoutMilliseconds)
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    /// Runs one or more statements that return nothing.
    func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &message)
        guard status == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "error \(status)"
            sqlite3_free(message)
            throw StoreError("SQLite: \(text)")
        }
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    func query(_ sql: String, _ bindings: [SQLValue] = []) throws -> [[SQLValue]] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else {
            throw StoreError("SQLite: \(lastError)")
        }
        defer { sqlite3_finalize(statement) }
        for (offset, value) in bindings.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .text(let text): status = sqlite3_bind_text(statement, index, text, -1, transient)
            case .integer(let number): status = sqlite3_bind_int64(statement, index, number)
            case .blob(let bytes):
                status = bytes.withUnsafeBytes {
                    sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), transient)
                }
            case .null: status = sqlite3_bind_null(statement, index)
            }
            guard status == SQLITE_OK else { throw StoreError("SQLite: \(lastError)") }
        }
        var rows: [[SQLValue]] = []
        while true {
            let status = sqlite3_step(statement)
            if status == SQLITE_DONE { break }
            guard status == SQLITE_ROW else { throw StoreError("SQLite: \(lastError)") }
            let columns = sqlite3_column_count(statement)
            var row: [SQLValue] = []
            row.reserveCapacity(Int(columns))
            for column in 0..<columns {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(statement, column)))
                case SQLITE_TEXT: row.append(.text(String(cString: sqlite3_column_text(statement, column))))
                case SQLITE_BLOB:
                    let count = Int(sqlite3_column_bytes(statement, column))
                    if let pointer = sqlite3_column_blob(statement, column), count > 0 {
                        row.append(.blob(Array(UnsafeRawBufferPointer(start: pointer, count: count))))
                    } else {
                        row.append(.blob([]))
                    }
                case SQLITE_NULL: row.append(.null)
                default: row.append(.integer(sqlite3_column_int64(statement, column)))
                }
            }
            rows.append(row)
        }
        return rows
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int { Int(sqlite3_changes(handle)) }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back on error. IMMEDIATE takes the write lock
    /// up front, so two processes never both read-then-write and deadlock on the upgrade.
    func writeTransaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    private var lastError: String {
        String(cString: sqlite3_errmsg(handle))
    }

    private static func createParentDirectory(of path: String) {
        var components = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        guard !components.isEmpty else { return }
        var current = path.hasPrefix("/") ? "" : "."
        if path.hasPrefix("/") { components = components.dropFirst() }
        for component in components where !component.isEmpty {
            current += "/" + component
            mkdir(current, 0o700)
        }
    }
}
