import Foundation

/// A `--env-file`: `KEY=VALUE` lines, `#` comments and blank lines, as `docker run --env-file` reads them.
///
/// An optional `export ` prefix is allowed so a shell-sourced file works too, and one pair of matching
/// quotes around a value is removed. Values are taken literally: no `${…}` expansion, no escapes.
/// `KEY=` with nothing after it unsets `KEY`.
public struct EnvironmentFile: Sendable, Equatable {
    /// The assignments in file order; a later one for the same key wins.
    public var entries: [(key: String, value: String)]

    /// A malformed line, naming the file and line but never the value.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The file as given.
        public var file: String
        /// 1-based line number; 0 when the file as a whole is the problem.
        public var line: Int
        /// What is wrong with it.
        public var message: String

        /// `FILE:LINE: MESSAGE`.
        public var description: String { line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)" }
    }

    /// Parses file contents; `file` only names the source in errors.
    public init(parsing text: String, file: String) throws(ParseError) {
        entries = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") {
                line = line.dropFirst("export ".count).trimmingCharacters(in: .whitespaces)
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw ParseError(file: file, line: index + 1, message: "expected KEY=VALUE")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard key.isVariableName else {
                throw ParseError(file: file, line: index + 1, message: "'\(key)' is not a valid variable name")
            }
            entries.append((key, Self.unquote(line[line.index(after: equals)...])))
        }
    }

    /// Reads and parses a file.
    public init(contentsOf url: URL) throws(ParseError) {
        let text: String
        do {
            text = try LocalFile.text(url.path)
        } catch {
            throw ParseError(file: url.path, line: 0, message: "cannot be read: \(error.reason)")
        }
        try self.init(parsing: text, file: url.path)
    }

    /// `environment` with this file's assignments applied; empty values remove the variable.
    public func applied(to environment: [String: String]) -> [String: String] {
        var result = environment
        for (key, value) in entries {
            result[key] = value.isEmpty ? nil : value
        }
        return result
    }

    private static func unquote(_ raw: Substring) -> String {
        let value = raw.trimmingCharacters(in: .whitespaces)
        for quote in ["\"", "'"] where value.count >= 2 && value.hasPrefix(quote) && value.hasSuffix(quote) {
            return String(value.dropFirst().dropLast())
        }
        return value
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.entries.map(\.key) == rhs.entries.map(\.key) && lhs.entries.map(\.value) == rhs.entries.map(\.value)
    }
}
