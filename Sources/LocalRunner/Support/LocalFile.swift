#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the files a user names on the command line (events, env files, manifests, keys, bodies) with one answer
/// to "why not?": the system's own reason (`No such file or directory`, `Permission denied`, `Is a directory`),
/// which Foundation's errors bury, so every command can say what to fix.
enum LocalFile {
    /// Why a file could not be read: the system's reason, ready to follow "cannot read PATH: ".
    struct ReadError: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// Far beyond any event (Lambda's limit is 6 MB), manifest or key file; a read never grows without bound.
    static let byteLimit = 64 << 20

    /// The whole file, or why it cannot be read.
    static func read(_ path: String) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if count == 0 { return bytes }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(reason: String(cString: strerror(errno)))
            }
            guard bytes.count + count <= byteLimit else { throw ReadError(reason: "it is larger than 64 MiB") }
            bytes.append(contentsOf: chunk[..<count])
        }
    }

    /// The whole file as UTF-8 text (invalid sequences replaced), or why it cannot be read.
    static func text(_ path: String) throws(ReadError) -> String {
        String(decoding: try read(path), as: UTF8.self)
    }
}

/// `read(2)` under one name on every C library this builds with.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.read(fd, buffer, count)
    #elseif canImport(Musl)
    Musl.read(fd, buffer, count)
    #else
    Darwin.read(fd, buffer, count)
    #endif
}
