import Encodings
import FunctionRuntime

/// Where a web sign-in may send the browser back to: `return_to` checked against `WXAUTH_RETURN_TO`.
///
/// An open redirect turns a sign-in page into a phishing tool, so the check is strict: a relative path
/// (`/…`, not `//…`) or an absolute `http(s)` URL, printable ASCII only, no backslashes, no dot segments,
/// and the same once percent-decoded (`%2F%2Fevil.example`, `%5C`, `%2e%2e`); then it must start with an
/// allow-list entry at a boundary (`/app` allows `/app`, `/app/x`, `/app?x`, never `/application`;
/// `https://a.example` never allows `https://a.example.evil.example` or `https://a.example@evil.example`).
public enum ReturnTo {
    /// The longest `return_to` accepted.
    static let maxLength = 2048

    /// The validated target; the first allow-list entry when `raw` is nil or empty.
    public static func validate(_ raw: String?, allowList: [String]) throws(AuthError) -> String {
        guard let raw, !raw.isEmpty else {
            guard let first = allowList.first else { throw .misconfigured("WXAUTH_RETURN_TO allows no return_to") }
            return first
        }
        guard raw.utf8.count <= maxLength else { throw .invalidRequest("return_to is too long") }
        guard isSafe(raw, decoded: false), let decoded = PercentDecoding.strict(raw), isSafe(decoded, decoded: true)
        else {
            throw .invalidRequest("return_to must be a path on this site or an allowed URL")
        }
        guard allowList.contains(where: { matches(raw, entry: $0) }) else {
            throw .invalidRequest("return_to is not on the allow-list (WXAUTH_RETURN_TO)")
        }
        return raw
    }

    /// Shape checks for the raw text (printable ASCII only) and the decoded one (which may hold spaces and
    /// UTF-8, but no control characters either).
    static func isSafe(_ text: String, decoded: Bool) -> Bool {
        let bytes = Array(text.utf8)
        let allowed: (UInt8) -> Bool = decoded ? { $0 >= 0x20 && $0 != 0x7F } : { $0 > 0x20 && $0 < 0x7F }
        guard bytes.allSatisfy({ allowed($0) && $0 != UInt8(ascii: "\\") }) else { return false }
        let path: Substring
        if text.hasPrefix("/") {
            guard !text.hasPrefix("//") else { return false }
            path = text[...]
        } else if let rest = text.stripping("https://") ?? text.stripping("http://") {
            guard let slash = rest.firstIndex(of: "/") else { return !rest.isEmpty && !rest.contains("@") }
            guard !rest[..<slash].contains("@") else { return false }
            path = rest[slash...]
        } else {
            return false
        }
        let pathOnly = path.prefix { $0 != "?" && $0 != "#" }
        return !pathOnly.split(separator: "/", omittingEmptySubsequences: false).contains { $0 == "." || $0 == ".." }
    }

    /// Whether `candidate` starts with `entry` at a boundary.
    static func matches(_ candidate: String, entry: String) -> Bool {
        guard !entry.isEmpty, candidate.hasPrefix(entry) else { return false }
        if candidate.count == entry.count || entry.hasSuffix("/") { return true }
        let next = candidate[candidate.index(candidate.startIndex, offsetBy: entry.count)]
        return next == "/" || next == "?" || next == "#"
    }
}

extension String {
    /// The rest after `prefix`, or nil when the text does not start with it.
    fileprivate func stripping(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? self[index(startIndex, offsetBy: prefix.count)...] : nil
    }
}
