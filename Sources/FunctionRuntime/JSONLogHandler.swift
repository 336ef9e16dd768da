import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A swift-log handler writing one JSON object per line to stderr in AWS Lambda's structured-log shape:
/// `{"timestamp","level","message","requestId",…metadata}`, so Lambda's log-level filtering and CloudWatch
/// Logs Insights read it without a parser. stdout is reserved for the response.
///
/// The `request_id` metadata key becomes the top-level `requestId`; other metadata follows, sorted by key.
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
        var merged = self.metadata
        if let extra = event.metadata {
            merged.merge(extra, uniquingKeysWith: { _, new in new })
        }
        let requestId = merged.removeValue(forKey: "request_id")
        var line = "{\"timestamp\":\"" + WallClock.rfc3339(WallClock.nowMilliseconds()) + "\""
        line += ",\"level\":\"" + Self.lambdaLevel(event.level) + "\""
        line += ",\"message\":" + JSONText.quote("\(event.message)")
        if let requestId { line += ",\"requestId\":" + Self.render(requestId) }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            line += "," + JSONText.quote(key) + ":" + Self.render(value)
        }
        line += "}\n"
        StandardStreams.writeAll(line, to: 2)
    }

    /// Lambda's six levels; swift-log's `notice` is Lambda's `INFO` and `critical` its `FATAL`.
    static func lambdaLevel(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "TRACE"
        case .debug: "DEBUG"
        case .info, .notice: "INFO"
        case .warning: "WARN"
        case .error: "ERROR"
        case .critical: "FATAL"
        }
    }

    /// The level a setting names: Lambda's (`TRACE` … `FATAL`, as `AWS_LAMBDA_LOG_LEVEL` has them) or swift-log's.
    public static func level(named name: String) -> Logger.Level? {
        switch name.lowercased() {
        case "warn": .warning
        case "fatal": .critical
        case let other: Logger.Level(rawValue: other)
        }
    }

    private static func render(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): JSONText.quote(text)
        case .stringConvertible(let item): JSONText.quote(item.description)
        case .array(let items): "[" + items.map(render).joined(separator: ",") + "]"
        case .dictionary(let dict):
            "{"
                + dict.sorted(by: { $0.key < $1.key }).map { JSONText.quote($0.key) + ":" + render($0.value) }
                .joined(separator: ",") + "}"
        }
    }
}

/// Wall-clock time (logs, metrics, runtime-API deadlines), read and formatted without Foundation.
package enum WallClock {
    /// Milliseconds since the Unix epoch.
    package static func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-12-06T17:50:01.123Z`.
    package static func rfc3339(_ milliseconds: Int64) -> String {
        let millis = ((milliseconds % 1000) + 1000) % 1000
        let seconds = (milliseconds - millis) / 1000
        let secondOfDay = ((seconds % 86_400) + 86_400) % 86_400
        let (year, month, day) = civilDate(daysSinceEpoch: (seconds - secondOfDay) / 86_400)
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2) + ":"
            + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2) + "." + pad(millis, 3) + "Z"
    }

    /// The proleptic Gregorian date of a day count (Howard Hinnant's `civil_from_days`).
    static func civilDate(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

/// Minimal JSON string quoting, so logging needs no encoder.
public enum JSONText {
    /// `text` as a JSON string. Control characters and DEL are `\u` escapes, so the result is also a valid YAML
    /// double-quoted scalar (YAML does not allow DEL unescaped): the runner's templates quote with it too.
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
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

    /// Reads a whole stream of at most `limit` bytes; nil when it is longer. Reads `limit + 1` bytes at most and
    /// stops there, without draining the rest: an endless stream (`/dev/zero`) must not keep the caller reading.
    public static func readAll(from fd: Int32, limit: Int) -> [UInt8]? {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while result.count <= limit {
            let wanted = min(chunk.count, limit + 1 - result.count)
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, wanted) }
            if count < 0 {
                if errno == EINTR { continue }
                break
            }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return result.count > limit ? nil : result
    }
}
