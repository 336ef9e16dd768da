import Foundation
import WXAuth
import Yams

/// The functions of `functions.yaml`: what to run for each route, with which limits and environment.
public struct Manifest: Sendable, Equatable {
    /// The functions, in the order the file lists them.
    public var functions: [FunctionSpec]

    /// Creates a manifest from already validated functions.
    public init(functions: [FunctionSpec]) {
        self.functions = functions
    }

    /// The function called `name`, if the manifest has one.
    public func function(named name: String) -> FunctionSpec? {
        functions.first { $0.name == name }
    }

    /// The names of every function, in file order.
    public var functionNames: [String] { functions.map(\.name) }
}

/// One function of the manifest, with the defaults already applied and its environment resolved.
public struct FunctionSpec: Sendable, Equatable {
    /// The manifest key, e.g. `login`.
    public var name: String
    /// The executable's file name in the binaries directory.
    public var handler: String
    /// The HTTP paths the function answers, e.g. `["/login"]`; never empty (`route` in `functions.yaml` may be
    /// one path or a list, for a function such as `jwks` that serves two documents).
    public var routes: [String]
    /// The first of ``routes``.
    public var route: String { routes[0] }
    /// Upper-case HTTP methods, e.g. `["POST", "GET"]`.
    public var methods: [String]
    /// Seconds after which the process is killed.
    public var timeout: Double
    /// Memory size in MB, as Lambda reports it.
    public var memory: Int
    /// How many requests `serve` runs at once; more are answered 429.
    public var concurrency: Int
    /// Variables after `${…}` substitution; variables whose value came out empty are left out (unset).
    public var environment: [String: String]

    /// Creates a function description.
    public init(
        name: String,
        handler: String,
        route: String,
        additionalRoutes: [String] = [],
        methods: [String],
        timeout: Double = Manifest.defaultTimeout,
        memory: Int = Manifest.defaultMemory,
        concurrency: Int = Manifest.defaultConcurrency,
        environment: [String: String] = [:]
    ) {
        self.name = name
        self.handler = handler
        self.routes = [route] + additionalRoutes
        self.methods = methods
        self.timeout = timeout
        self.memory = memory
        self.concurrency = concurrency
        self.environment = environment
    }
}

// MARK: - Defaults

extension Manifest {
    /// Seconds, when neither `defaults` nor the function sets `timeout`.
    public static let defaultTimeout: Double = 10
    /// MB, when neither `defaults` nor the function sets `memory`.
    public static let defaultMemory = 128
    /// Requests `serve` runs at once per function, when neither `defaults` nor the function sets `concurrency`.
    public static let defaultConcurrency = 10
    /// The methods `method` accepts (`ANY` as in API Gateway).
    public static let httpMethods: Set<String> = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"]

    /// Every function this package builds, with default limits and no environment: what `demo` runs without a
    /// `functions.yaml`. Routes and methods come from the functions themselves (`wxauth-http` serves the same).
    public static let builtIn = Manifest(
        functions: Functions.Name.allCases.map { name in
            let routes = name.routes
            return FunctionSpec(
                name: name.rawValue,
                handler: name.rawValue,
                route: routes[0].path,
                additionalRoutes: routes.dropFirst().map(\.path),
                methods: routes[0].methods
            )
        }
    )
}

// MARK: - Loading

extension Manifest {
    /// Reads and validates a manifest file; `environment` feeds the `${VAR}` substitutions.
    public static func load(
        from url: URL,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ManifestError) -> Manifest {
        let file = url.path
        let text: String
        do {
            text = try LocalFile.text(file)
        } catch {
            throw ManifestError(file: file, key: nil, line: nil, message: "cannot be read: \(error.reason)")
        }
        return try parse(text, file: file, environment: environment)
    }

    /// Validates manifest text; `file` only names the source in errors.
    public static func parse(
        _ text: String,
        file: String = "functions.yaml",
        environment: [String: String] = [:]
    ) throws(ManifestError) -> Manifest {
        let raw: RawManifest
        var document: Node?
        do {
            document = try Yams.compose(yaml: text)
            guard document != nil else {
                throw ManifestIssue(path: [], line: nil, message: "empty: it needs a 'functions' mapping")
            }
            raw = try YAMLDecoder().decode(RawManifest.self, from: text)
        } catch var issue as ManifestIssue {
            if issue.locateKey, let document { issue.line = keyLine(issue.path, in: document) ?? issue.line }
            throw ManifestError(file: file, issue: issue)
        } catch DecodingError.dataCorrupted(let context) where context.underlyingError is ManifestIssue {
            // Yams wraps what `init(from:)` throws.
            var issue =
                context.underlyingError as? ManifestIssue ?? ManifestIssue(path: [], line: nil, message: "invalid")
            if issue.locateKey, let document { issue.line = keyLine(issue.path, in: document) ?? issue.line }
            throw ManifestError(file: file, issue: issue)
        } catch let error as YamlError {
            throw ManifestError(file: file, yamlError: error, text: text)
        } catch {
            throw ManifestError(file: file, key: nil, line: nil, message: "not valid YAML (\(error))")
        }
        do {
            return try raw.resolve(environment: environment)
        } catch {
            throw ManifestError(file: file, issue: error)
        }
    }
}

extension Manifest {
    /// The line of the last key of `path` in `document`: mapping keys hold their own marks.
    static func keyLine(_ path: [String], in document: Node) -> Int? {
        var node = document
        var line: Int?
        for name in path {
            guard let mapping = node.mapping,
                let pair = mapping.first(where: { $0.key.string == name })
            else { return line }
            line = pair.key.mark?.line
            node = pair.value
        }
        return line
    }
}

// MARK: - Errors

/// A manifest that cannot be used, naming the file, the key and, where known, the line.
public struct ManifestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The manifest's path as given.
    public var file: String
    /// The dotted key path, e.g. `functions.login.method`; nil for whole-file problems.
    public var key: String?
    /// 1-based line, where the YAML parser knows it.
    public var line: Int?
    /// What is wrong, without the file, key and line.
    public var message: String

    /// Creates an error; normally thrown by `Manifest.load`.
    public init(file: String, key: String?, line: Int?, message: String) {
        self.file = file
        self.key = key
        self.line = line
        self.message = message
    }

    init(file: String, issue: ManifestIssue) {
        self.init(file: file, key: issue.key, line: issue.line, message: issue.message)
    }

    init(file: String, yamlError: YamlError, text: String) {
        switch yamlError {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            // libyaml calls a tab "character that cannot start any token"; name it, since it is invisible.
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let faulty = mark.line >= 1 && mark.line <= lines.count ? lines[mark.line - 1] : ""
            let message =
                faulty.utf8.contains(UInt8(ascii: "\t"))
                ? "a tab character: YAML indents with spaces only, so replace the tab with spaces"
                : "not valid YAML: \(problem)"
            self.init(file: file, key: nil, line: mark.line, message: message)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            self.init(file: file, key: nil, line: context.mark.line, message: "duplicate key \(keys) in one mapping")
        default:
            self.init(file: file, key: nil, line: nil, message: "not valid YAML: \(yamlError)")
        }
    }

    /// `FILE:LINE: KEY: MESSAGE`, leaving out what is unknown.
    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        if let key { text += ": \(key)" }
        return text + ": " + message
    }
}

/// A problem found while decoding, before the file name is known.
struct ManifestIssue: Error {
    var key: String?
    var line: Int?
    var message: String
    /// The keys leading to the value at fault, for finding its line in the document.
    var path: [String] = []
    /// Whether the line is the key's own, to be found in the document (see ``Manifest/keyLine(_:in:)``).
    var locateKey = false

    init(path: [any CodingKey], line: Int?, message: String, locateKey: Bool = false) {
        self.key = path.isEmpty ? nil : path.map(\.stringValue).joined(separator: ".")
        self.line = line
        self.message = message
        self.path = path.map(\.stringValue)
        self.locateKey = locateKey
    }

    init(key: String, line: Int?, message: String) {
        self.key = key
        self.line = line
        self.message = message
    }
}
