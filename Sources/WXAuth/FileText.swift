import FunctionRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads small text files (secrets given as `NAME_FILE`) without Foundation.
enum FileText {
    /// The most a `NAME_FILE` may hold (CONTRACT §2); a longer or endless file is refused after this many bytes.
    static let limit = 64 * 1024

    enum Failure: Error {
        case unreadable
        case tooLarge
        case notUTF8
    }

    static func read(_ path: String, limit: Int = Self.limit) throws(Failure) -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .unreadable }
        defer { close(fd) }
        guard let bytes = StandardStreams.readAll(from: fd, limit: limit) else { throw .tooLarge }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .notUTF8 }
        return text
    }
}
