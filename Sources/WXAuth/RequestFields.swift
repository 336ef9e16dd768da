import FunctionRuntime

/// The fields of a request body: a JSON object, or a form (`application/x-www-form-urlencoded`) as OAuth
/// clients often send. Only string values are taken as strings; other JSON types are remembered as wrong.
///
/// JSON bodies go through the event parser (``EventJSON``), as strict as RFC 8259: a body Foundation would
/// accept but the RFC refuses (`{"code":"…",}`, `-01`, bad escapes) is a 400 before WeChat is called.
struct RequestFields {
    private var strings: [String: String] = [:]
    private var wrongTypes: Set<String> = []

    init(_ request: FunctionRequest) throws(AuthError) {
        let contentType = request.header("content-type")?.lowercased() ?? ""
        if contentType.hasPrefix("application/x-www-form-urlencoded") {
            guard let text = String(validating: request.body, as: UTF8.self) else {
                throw .invalidRequest("the body is not valid UTF-8")
            }
            strings = QueryString.parse(text)
            return
        }
        guard !request.body.isEmpty else { return }
        let root: EventJSON
        do {
            root = try EventJSON.parse(request.body)
        } catch {
            throw .invalidRequest("the body is not valid JSON (RFC 8259); expected a JSON object")
        }
        guard case .object(let members) = root else {
            throw .invalidRequest("the body is \(root.kind), not a JSON object")
        }
        // A repeated name keeps its first value, as in events.
        var seen: Set<String> = []
        for (key, value) in members where seen.insert(key).inserted {
            switch value {
            case .string(let text): strings[key] = text
            case .null: continue
            default: wrongTypes.insert(key)
            }
        }
    }

    /// A required string field.
    func required(_ name: String) throws(AuthError) -> String {
        guard let value = try optional(name) else { throw .invalidRequest("\(name) is required") }
        return value
    }

    /// An optional string field; present with another JSON type is an error.
    func optional(_ name: String) throws(AuthError) -> String? {
        if wrongTypes.contains(name) { throw .invalidRequest("\(name) must be a string") }
        guard let value = strings[name], !value.isEmpty else { return nil }
        return value
    }
}
