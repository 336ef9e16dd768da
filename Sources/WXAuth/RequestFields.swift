import FunctionRuntime
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The fields of a request body: a JSON object, or a form (`application/x-www-form-urlencoded`) as OAuth
/// clients often send. Only string values are taken as strings; other JSON types are remembered as wrong.
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
        let object: [String: LooseJSON]
        do {
            object = try JSONDecoder().decode([String: LooseJSON].self, from: Data(request.body))
        } catch {
            throw .invalidRequest("the body must be a JSON object")
        }
        for (key, value) in object {
            switch value {
            case .string(let text): strings[key] = text
            case .null: continue
            case .other: wrongTypes.insert(key)
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

/// A JSON value as far as body parsing cares: a string, null, or something else.
private enum LooseJSON: Decodable {
    case string(String)
    case null
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else {
            self = .other
        }
    }
}
