import Yams

// The YAML shape of `functions.yaml`, decoded with Codable. Every check happens here, where Yams can
// still tell the line (`Decoder.mark`), so errors name the key and line instead of a Swift type.

/// `functions.yaml` as written, before defaults are applied and `${…}` substituted.
struct RawManifest: Decodable {
    var defaults = RawSettings()
    var functions: [RawFunction] = []

    init(from decoder: any Decoder) throws {
        guard let container = try decoder.mapping(allowing: ["defaults", "functions"]) else {
            throw ManifestIssue(path: [], line: nil, message: "missing 'functions'")
        }
        if let defaultsDecoder = try container.value(for: "defaults") {
            defaults = try RawSettings(from: defaultsDecoder, allowing: RawSettings.keys)
        }
        guard let functionsDecoder = try container.value(for: "functions") else {
            throw ManifestIssue(path: [], line: decoder.mark?.line, message: "missing 'functions'")
        }
        guard let functionsContainer = try functionsDecoder.mapping(allowing: nil),
            !functionsContainer.allKeys.isEmpty
        else {
            throw functionsDecoder.issue("needs at least one function")
        }
        for key in functionsContainer.allKeys {
            let functionDecoder = try functionsContainer.superDecoder(forKey: key)
            guard key.stringValue.isFunctionName else {
                throw functionDecoder.issue("is not a valid function name (letters, digits, '-' and '_')")
            }
            functions.append(try RawFunction(name: key.stringValue, from: functionDecoder))
        }
    }
}

/// The settings `defaults` and each function share.
struct RawSettings {
    static let keys: Set<String> = ["timeout", "memory", "concurrency", "environment"]

    var timeout: Double?
    var memory: Int?
    var concurrency: Int?
    /// In file order, with each value's line for substitution errors.
    var environment: [RawVariable] = []

    init() {}

    init(from decoder: any Decoder, allowing keys: Set<String>) throws {
        guard let container = try decoder.mapping(allowing: keys) else { return }
        if let timeoutDecoder = try container.value(for: "timeout") {
            guard let seconds = try? timeoutDecoder.singleValueContainer().decode(Double.self),
                seconds.isFinite, seconds > 0
            else {
                throw timeoutDecoder.issue("must be a positive number of seconds")
            }
            timeout = seconds
        }
        if let memoryDecoder = try container.value(for: "memory") {
            guard let megabytes = try? memoryDecoder.singleValueContainer().decode(Int.self), megabytes > 0 else {
                throw memoryDecoder.issue("must be a positive whole number of MB")
            }
            memory = megabytes
        }
        if let concurrencyDecoder = try container.value(for: "concurrency") {
            guard let limit = try? concurrencyDecoder.singleValueContainer().decode(Int.self), limit > 0 else {
                throw concurrencyDecoder.issue("must be a positive whole number of requests")
            }
            concurrency = limit
        }
        if let environmentDecoder = try container.value(for: "environment") {
            let variables = try environmentDecoder.mapping(allowing: nil)
            for key in variables?.allKeys ?? [] {
                guard let valueDecoder = try variables?.superDecoder(forKey: key) else { continue }
                guard key.stringValue.isVariableName else {
                    throw valueDecoder.issue("is not a valid environment variable name")
                }
                // An empty `NAME:` is YAML null; it means "unset", like an empty string.
                let value = try valueDecoder.optionalScalar() ?? ""
                environment.append(
                    RawVariable(
                        name: key.stringValue,
                        value: value,
                        key: valueDecoder.keyPath,
                        line: valueDecoder.mark?.line
                    )
                )
            }
        }
    }
}

/// One `environment` entry as written.
struct RawVariable {
    var name: String
    var value: String
    var key: String
    var line: Int?
}

/// One entry of `functions`.
struct RawFunction {
    var name: String
    var handler: String
    var routes: [String]
    var methods: [String]
    var settings: RawSettings
    var key: String
    var line: Int?

    init(name: String, from decoder: any Decoder) throws {
        self.name = name
        key = decoder.keyPath
        line = decoder.mark?.line
        let allowed = RawSettings.keys.union(["handler", "route", "method"])
        guard let container = try decoder.mapping(allowing: allowed),
            let handlerDecoder = try container.value(for: "handler")
        else {
            throw decoder.issue("missing 'handler' (the executable's name)")
        }
        handler = try handlerDecoder.scalar()
        guard handler.isFileName else {
            throw handlerDecoder.issue("must be an executable's file name, without '/'")
        }
        guard let routeDecoder = try container.value(for: "route") else {
            throw decoder.issue("missing 'route' (the HTTP path, e.g. /\(name))")
        }
        routes = try routeDecoder.routes()
        for route in routes
        where !route.hasPrefix("/") || route.contains(where: { $0 == "?" || $0 == "#" || $0.isWhitespace }) {
            throw routeDecoder.issue("must be a path starting with '/', without query or spaces")
        }
        if let methodDecoder = try container.value(for: "method") {
            methods = try methodDecoder.methods()
        } else {
            throw decoder.issue("missing 'method' (e.g. GET, or a list such as [POST, GET])")
        }
        settings = try RawSettings(from: decoder, allowing: allowed)
    }
}

// MARK: - Resolution

extension RawManifest {
    /// Applies defaults, substitutes `${…}` from `environment`, drops empty values, checks routes are unique.
    func resolve(environment: [String: String]) throws(ManifestIssue) -> Manifest {
        let defaultVariables = try Self.substitute(defaults.environment, from: environment)
        var claimed: [String: String] = [:]
        var specs: [FunctionSpec] = []
        for function in functions {
            var variables = defaultVariables
            for (name, value) in try Self.substitute(function.settings.environment, from: environment) {
                variables[name] = value
            }
            for method in function.methods {
                for path in function.routes {
                    let route = "\(method) \(path)"
                    if let owner = claimed[route] {
                        throw ManifestIssue(
                            key: function.key + ".route",
                            line: function.line,
                            message: "\(route) is already the route of '\(owner)'"
                        )
                    }
                    claimed[route] = function.name
                }
            }
            specs.append(
                FunctionSpec(
                    name: function.name,
                    handler: function.handler,
                    route: function.routes[0],
                    additionalRoutes: Array(function.routes.dropFirst()),
                    methods: function.methods,
                    timeout: function.settings.timeout ?? defaults.timeout ?? Manifest.defaultTimeout,
                    memory: function.settings.memory ?? defaults.memory ?? Manifest.defaultMemory,
                    concurrency: function.settings.concurrency ?? defaults.concurrency
                        ?? Manifest.defaultConcurrency,
                    environment: variables.filter { !$0.value.isEmpty }
                )
            )
        }
        return Manifest(functions: specs)
    }

    private static func substitute(
        _ variables: [RawVariable],
        from environment: [String: String]
    ) throws(ManifestIssue) -> [String: String] {
        var result: [String: String] = [:]
        for variable in variables {
            do {
                result[variable.name] = try Substitution.expand(variable.value, environment: environment)
            } catch {
                throw ManifestIssue(key: variable.key, line: variable.line, message: error.message)
            }
        }
        return result
    }
}

// MARK: - Decoding helpers

/// Any mapping key; the manifest checks names itself.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// The dotted key path of this value, e.g. `functions.login.route`.
    var keyPath: String { codingPath.map(\.stringValue).joined(separator: ".") }

    func issue(_ message: String) -> ManifestIssue {
        ManifestIssue(path: codingPath, line: mark?.line, message: message)
    }

    /// This value as a mapping, rejecting any key outside `allowed` (nil: any key; Yams itself rejects
    /// duplicates). Nil for a null value (`defaults:` with nothing under it), which callers treat as empty.
    func mapping(allowing allowed: Set<String>?) throws -> KeyedDecodingContainer<AnyKey>? {
        let container: KeyedDecodingContainer<AnyKey>
        do {
            container = try self.container(keyedBy: AnyKey.self)
        } catch {
            if (try? singleValueContainer().decodeNil()) == true { return nil }
            throw issue("must be a mapping")
        }
        if let allowed {
            for key in container.allKeys where !allowed.contains(key.stringValue) {
                // The key's own line, found from the document once decoding has stopped: a decoder only knows
                // the line of the value, which for a mapping is the line below the misspelt key.
                throw ManifestIssue(
                    path: codingPath + [key],
                    line: nil,
                    message: "unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))",
                    locateKey: true
                )
            }
        }
        return container
    }

    /// A scalar as a string; a mapping, list or null is an error.
    func scalar() throws -> String {
        guard let value = try optionalScalar() else { throw issue("has no value") }
        return value
    }

    /// A scalar as a string, nil for null.
    func optionalScalar() throws -> String? {
        guard let single = try? singleValueContainer() else { throw issue("must be a string") }
        if single.decodeNil() { return nil }
        guard let value = try? single.decode(String.self) else { throw issue("must be a string") }
        return value
    }

    /// `method: GET` or `method: [POST, GET]`, checked and upper-cased.
    /// `route`: one path, or a non-empty list of paths.
    func routes() throws -> [String] {
        if let single = try? scalar() { return [single] }
        guard var list = try? unkeyedContainer() else { throw issue("must be a path or a list of paths") }
        var paths: [String] = []
        while !list.isAtEnd {
            guard let path = try? list.decode(String.self) else { throw issue("must list paths") }
            paths.append(path)
        }
        guard !paths.isEmpty else { throw issue("must list at least one path") }
        return paths
    }

    func methods() throws -> [String] {
        var names: [String]
        if let single = try? scalar() {
            names = [single]
        } else if var list = try? unkeyedContainer() {
            names = []
            while !list.isAtEnd {
                guard let name = try? list.decode(String.self) else { throw issue("must list method names") }
                names.append(name)
            }
        } else {
            throw issue("must be a method or a list of methods")
        }
        guard !names.isEmpty else { throw issue("needs at least one method") }
        var methods: [String] = []
        for name in names {
            let method = name.uppercased()
            guard Manifest.httpMethods.contains(method) else {
                let expected = Manifest.httpMethods.sorted().joined(separator: ", ")
                throw issue("'\(name)' is not an HTTP method (expected \(expected))")
            }
            if !methods.contains(method) { methods.append(method) }
        }
        return methods
    }
}

extension KeyedDecodingContainer where Key == AnyKey {
    /// The decoder of `key`'s value, nil when the key is absent.
    func value(for key: String) throws -> (any Decoder)? {
        let codingKey = AnyKey(stringValue: key)
        guard contains(codingKey) else { return nil }
        return try superDecoder(forKey: codingKey)
    }
}

extension String {
    var isFunctionName: Bool {
        guard let first = unicodeScalars.first, first.isASCIIAlphanumeric else { return false }
        return unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || $0 == "-" || $0 == "_" }
    }

    var isVariableName: Bool {
        guard let first = unicodeScalars.first, first.isASCIIAlphanumeric || first == "_",
            !("0"..."9").contains(first)
        else { return false }
        return unicodeScalars.allSatisfy { $0.isASCIIAlphanumeric || $0 == "_" }
    }

    var isFileName: Bool {
        !isEmpty && self != "." && self != ".." && !contains("/") && !contains("\0")
    }
}

extension Unicode.Scalar {
    var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }
}
