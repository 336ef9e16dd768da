import Foundation

/// Why a JSON text did not decode into the type a test expected.
package struct UndecodableJSON: Error, CustomStringConvertible {
    package var description: String
}

/// Decodes `text` into a typed value: how the tests read responses and documents, instead of casting
/// `[String: Any]`. A mismatch throws with the decoder's reason and the members the text has — names, not values,
/// so a failing test never prints a token or a key it was handed.
package func decodeJSON<Value: Decodable>(_ type: Value.Type = Value.self, from text: String) throws -> Value {
    try decodeJSON(type, from: Array(text.utf8))
}

/// ``decodeJSON(_:from:)-(_,String)`` for bytes.
package func decodeJSON<Value: Decodable>(_ type: Value.Type = Value.self, from bytes: [UInt8]) throws -> Value {
    do {
        return try JSONDecoder().decode(type, from: Data(bytes))
    } catch {
        let members = (try? JSONDecoder().decode(JSONObjectKeys.self, from: Data(bytes))).map {
            "an object with " + ($0.keys.isEmpty ? "no members" : $0.keys.sorted().joined(separator: ", "))
        }
        throw UndecodableJSON(
            description: "not a \(Value.self): \(error); got \(members ?? "\(bytes.count) bytes, not a JSON object")"
        )
    }
}
