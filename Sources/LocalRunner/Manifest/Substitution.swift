/// `${VAR}` and `${VAR:-default}` in manifest values, taken from the runner's own environment.
///
/// As in a shell, `:-` also applies when `VAR` is set but empty. `$$` is a literal `$`; a `$` not
/// followed by `{` or `$` is kept as it is, so values such as `postgres://u:pa$s@h/db` survive.
public enum Substitution {
    /// A malformed reference; the message never contains a variable's value.
    public struct Failure: Error, Sendable, Equatable {
        /// What is wrong, e.g. "unterminated '${'".
        public var message: String
    }

    /// Expands every reference in `text`; unset variables without a default become empty.
    public static func expand(_ text: String, environment: [String: String]) throws(Failure) -> String {
        var result = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            result += rest[..<dollar]
            let afterDollar = rest.index(after: dollar)
            guard afterDollar < rest.endIndex else {
                result += "$"
                rest = rest[afterDollar...]
                break
            }
            switch rest[afterDollar] {
            case "$":
                result += "$"
                rest = rest[rest.index(after: afterDollar)...]
            case "{":
                let bodyStart = rest.index(after: afterDollar)
                guard let close = rest[bodyStart...].firstIndex(of: "}") else {
                    throw Failure(message: "unterminated '${' (write '$$' for a literal '$')")
                }
                result += try resolve(rest[bodyStart..<close], environment: environment)
                rest = rest[rest.index(after: close)...]
            default:
                result += "$"
                rest = rest[afterDollar...]
            }
        }
        return result + rest
    }

    private static func resolve(_ body: Substring, environment: [String: String]) throws(Failure) -> String {
        let name: Substring
        let fallback: Substring?
        if let separator = body.firstRange(of: ":-") {
            name = body[..<separator.lowerBound]
            fallback = body[separator.upperBound...]
        } else {
            name = body
            fallback = nil
        }
        guard String(name).isVariableName else {
            throw Failure(message: "'${\(body)}' is not a variable reference (use ${NAME} or ${NAME:-default})")
        }
        let value = environment[String(name)] ?? ""
        if value.isEmpty, let fallback { return String(fallback) }
        return value
    }
}
