#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// A swift-log handler writing one JSON object per line to stderr:
/// `{"level","msg","request_id",…metadata}`. stdout is reserved for the response.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String

    public init(label: String, level: Logger.Level = .info) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "{\"time\":" + String(Self.epochMilliseconds()) + ",\"level\":" + JSONText.quote(event.level.rawValue)
        line += ",\"msg\":" + JSONText.quote("\(event.message)")
        var merged = self.metadata
        if let extra = event.metadata {
            merged.merge(extra, uniquingKeysWith: { _, new in new })
        }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line += "," + JSONText.quote(key) + ":" + Self.render(value)
        }
        line += "}\n"
        StandardStreams.writeAll(line, to: 2)
    }

    private static func render(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): JSONText.quote(text)
        case .stringConvertible(let item): JSONText.quote(item.description)
        case .array(let items): "[" + items.map(render).joined(separator: ",") + "]"
        case .dictionary(let dict):
            "{" + dict.sorted(by: { $0.key < $1.key }).map { JSONText.quote($0.key) + ":" + render($0.value) }
                .joined(separator: ",") + "}"
        }
    }

    private static func epochMilliseconds() -> Int {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return spec.tv_sec * 1000 + spec.tv_nsec / 1_000_000
    }
}

/// Minimal JSON string quoting, so logging needs no encoder.
public enum JSONText {
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Unbuffered, complete writes to file descriptors (retrying short writes and EINTR).
public enum StandardStreams {
    public static func writeAll(_ text: String, to fd: Int32) {
        var copy = text
        copy.withUTF8 { buffer in writeAll(UnsafeRawBufferPointer(buffer), to: fd) }
    }

    public static func writeAll(_ bytes: [UInt8], to fd: Int32) {
        bytes.withUnsafeBytes { writeAll($0, to: fd) }
    }

    static func writeAll(_ buffer: UnsafeRawBufferPointer, to fd: Int32) {
        guard var pointer = buffer.baseAddress else { return }
        var remaining = buffer.count
        while remaining > 0 {
            let written = write(fd, pointer, remaining)
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            pointer += written
            remaining -= written
        }
    }

    /// Reads a whole stream up to `limit` bytes; returns nil (after draining the rest) when it is longer.
    public static func readAll(from fd: Int32, limit: Int) -> [UInt8]? {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var overflowed = false
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                break
            }
            if count == 0 { break }
            if overflowed { continue }
            if result.count + count > limit {
                overflowed = true
                result = []
                continue
            }
            result.append(contentsOf: chunk[0..<count])
        }
        return overflowed ? nil : result
    }
}
