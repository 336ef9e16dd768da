import Foundation
import TestSupport
import Testing

/// CONTRACT §8: every stderr line is one JSON object in AWS Lambda's structured-log shape.
enum LogShape {
    static let levels: Set<String> = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]

    /// The problems of one stderr line, empty when it has the shape.
    static func problems(ofLine line: Substring) -> [String] {
        guard let object = try? decodeJSON([String: JSONValue].self, from: String(line)) else {
            return ["not a JSON object: \(line.prefix(200))"]
        }
        var problems: [String] = []
        if let timestamp = object["timestamp"]?.string {
            // RFC 3339, UTC, milliseconds: 2026-12-06T17:50:01.123Z
            if timestamp.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) == nil {
                problems.append("timestamp \(timestamp) is not RFC 3339 UTC with milliseconds")
            }
        } else if object["_aws"] == nil {
            // An Embedded Metric Format line carries its time in `_aws.Timestamp` instead.
            problems.append("no timestamp")
        }
        if object["_aws"] == nil {
            if let level = object["level"]?.string, !levels.contains(level) { problems.append("level \(level)") }
            if object["level"] == nil { problems.append("no level") }
            if object["message"]?.string == nil { problems.append("no message") }
        }
        return problems
    }

    /// Records an issue for every stderr line without the shape.
    static func expectStructured(_ stderr: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for line in stderr.split(separator: "\n") where !line.isEmpty {
            let problems = problems(ofLine: line)
            #expect(
                problems.isEmpty,
                "stderr line without the structured-log shape: \(problems)",
                sourceLocation: sourceLocation
            )
        }
    }
}
