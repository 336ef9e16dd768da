#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Unbuffered writes to stdout and stderr.
///
/// `print` buffers stdout when it is a pipe, so a script waiting for the sandbox's URL would never see
/// it, and a relayed log chunk could overtake earlier output. Writing the file descriptors directly
/// keeps every line in order and visible at once.
enum Console {
    /// Writes `text` and a newline to stdout.
    static func out(_ text: String) {
        write(Array((text + "\n").utf8), to: 1)
    }

    /// Writes `text` and a newline to stderr.
    static func error(_ text: String) {
        write(Array((text + "\n").utf8), to: 2)
    }

    /// Writes raw bytes to a file descriptor, retrying partial writes.
    static func write(_ bytes: [UInt8], to fd: Int32) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { buffer in
                #if canImport(Glibc)
                Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                #elseif canImport(Musl)
                Musl.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                #else
                Darwin.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                #endif
            }
            if count > 0 {
                offset += count
            } else if count == -1 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
