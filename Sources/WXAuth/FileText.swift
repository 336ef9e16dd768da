#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FunctionRuntime

/// Reads small text files (secrets given as `NAME_FILE`) without Foundation.
enum FileText {
    static func read(_ path: String, limit: Int = 64 * 1024) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard let bytes = StandardStreams.readAll(from: fd, limit: limit) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}
