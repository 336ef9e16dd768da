import Foundation
import FunctionRuntime
import Yams

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The AWS SAM template `local-runner package` writes next to the zips, generated from `functions.yaml`.
///
/// Environment rules: `*_FILE` variables are left out (there are no files beside `bootstrap` on Lambda).
/// A variable whose name ends in `SECRET`, `_KEYS` (a private key set) or `DATABASE_URL` (which holds a password)
/// becomes a `NoEcho`
/// parameter, never its value. A variable written as `${VAR…}` is a setting of the deployment
/// (`WECHAT_APPID`, `WXAUTH_PUBLIC_URL`…): it becomes a plain parameter whose default is the `:-` default,
/// required when there is none. Literals stay as written. Nothing from the packager's own shell can end
/// up in the template, and an optional parameter left empty leaves its variable unset.
struct SAMTemplate {
    /// `x86_64` or `arm64`, as Lambda's `Architectures` spells them.
    var architecture: String
    /// The functions to describe, in manifest order.
    var functions: [Function]
    /// Deploy-time parameters, in the order they first appear.
    var parameters: [Parameter]
    /// Things the template had to adjust (memory or timeout outside Lambda's limits).
    var warnings: [String] = []

    struct Function {
        var spec: FunctionSpec
        var logicalID: String
        /// Literal variables, name → value, sorted by name when written.
        var literals: [String: String]
        /// Variables this function takes from parameters.
        var parameterNames: [String]
    }

    struct Parameter {
        var variable: String
        var parameter: String
        /// True when the manifest gives no `:-` default: the parameter has no Default, so deploys must set it.
        var required: Bool
        /// Secrets are `NoEcho` and never get a default from the manifest.
        var noEcho: Bool
        /// The manifest's `:-` default for a plain setting.
        var defaultValue: String
    }

    /// Lambda's limits.
    static let memoryRange = 128...10_240
    static let timeoutRange = 1...900

    /// Reads the manifest at `url` (validated as `Manifest.load` does) and describes `names`
    /// (every function when empty).
    init(
        manifestAt url: URL,
        functions names: [String] = [],
        architecture: String = SAMTemplate.hostArchitecture
    )
        throws
    {
        let manifest = try Manifest.load(from: url, environment: [:])
        let text = try String(contentsOf: url, encoding: .utf8)
        let raw = try YAMLDecoder().decode(RawManifest.self, from: text)
        try self.init(manifest: manifest, raw: raw, functions: names, architecture: architecture)
    }

    /// Describes a manifest given as text; `file` only names it in errors.
    init(manifestText text: String, file: String = "functions.yaml", architecture: String = "x86_64") throws {
        let manifest = try Manifest.parse(text, file: file, environment: [:])
        let raw = try YAMLDecoder().decode(RawManifest.self, from: text)
        try self.init(manifest: manifest, raw: raw, functions: [], architecture: architecture)
    }

    private init(manifest: Manifest, raw: RawManifest, functions names: [String], architecture: String) throws {
        self.architecture = architecture
        self.functions = []
        self.parameters = []
        let selected =
            names.isEmpty
            ? manifest.functions
            : try names.map { name in
                guard let spec = manifest.function(named: name) else {
                    throw PackageError(
                        "no function '\(name)' in the manifest (known: \(manifest.functionNames.joined(separator: ", ")))"
                    )
                }
                return spec
            }
        var usedIDs: [String: String] = [:]
        for spec in selected {
            let logicalID = Self.pascalCase(spec.name) + "Function"
            if let other = usedIDs[logicalID] {
                throw PackageError("functions '\(other)' and '\(spec.name)' both map to the logical id \(logicalID)")
            }
            usedIDs[logicalID] = spec.name
            // The variables as written: defaults first, the function's own overriding them.
            var written: [(name: String, value: String)] = raw.defaults.environment.map { ($0.name, $0.value) }
            if let rawFunction = raw.functions.first(where: { $0.name == spec.name }) {
                for variable in rawFunction.settings.environment {
                    written.removeAll { $0.name == variable.name }
                    written.append((variable.name, variable.value))
                }
            }
            var function = Function(spec: spec, logicalID: logicalID, literals: [:], parameterNames: [])
            for (name, value) in written {
                if name.hasSuffix("_FILE") { continue }
                let secret = name.hasSuffix("SECRET") || name.hasSuffix("_KEYS") || name.hasSuffix("DATABASE_URL")
                if secret || value.contains("${") {
                    function.parameterNames.append(name)
                    if !parameters.contains(where: { $0.variable == name }) {
                        let parameter = Self.pascalCase(name)
                        if let clash = parameters.first(where: { $0.parameter == parameter }) {
                            throw PackageError("\(clash.variable) and \(name) both map to the parameter \(parameter)")
                        }
                        parameters.append(
                            Parameter(
                                variable: name,
                                parameter: parameter,
                                required: !value.contains(":-"),
                                noEcho: secret,
                                defaultValue: secret ? "" : spec.environment[name] ?? ""
                            )
                        )
                    }
                    continue
                }
                if let resolved = spec.environment[name], !resolved.isEmpty { function.literals[name] = resolved }
            }
            function.literals["WXAUTH_FUNCTION_NAME"] = spec.name
            function.literals["WXAUTH_FUNCTION_TIMEOUT"] = Invocation.secondsText(spec.timeout)
            functions.append(function)
        }
    }

    /// A timeout as whole seconds in `timeoutRange` (SCF's range too), and whether that changed it.
    static func timeoutSeconds(_ timeout: Double) -> (seconds: Int, fitted: Bool) {
        let seconds = Int(
            min(max(timeout.rounded(.up), Double(timeoutRange.lowerBound)), Double(timeoutRange.upperBound))
        )
        return (seconds, Double(seconds) != timeout)
    }

    /// `login` → `Login`, `WECHAT_OA_SECRET` → `WechatOaSecret`, `my-fn` → `MyFn`.
    static func pascalCase(_ text: String) -> String {
        text.split(whereSeparator: { !($0.isASCII && ($0.isLetter || $0.isNumber)) })
            .map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }
            .joined()
    }

    /// `x86_64` or `arm64` for the machine this runs on (the binaries are built for it).
    static var hostArchitecture: String {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        return machine == "aarch64" || machine == "arm64" ? "arm64" : "x86_64"
    }

    /// The template as YAML.
    /// An optional parameter's description. The database URL is optional only to the template: Lambda's
    /// instances share nothing on disk, so a deployment needs a shared PostgreSQL URL there.
    static func optionalDescription(_ variable: String) -> String {
        guard variable == "WXAUTH_DATABASE_URL" else { return "\(variable) (optional; empty leaves it unset)" }
        return
            "\(variable): set it on Lambda to a shared PostgreSQL URL (postgres://user:pass@host:5432/db?sslmode=require); "
            + "empty leaves the default SQLite path, which Lambda cannot write and no two instances would share"
    }

    mutating func render() -> String {
        warnings = []
        var lines: [String] = [
            "# Generated by `local-runner package` from functions.yaml; edit functions.yaml instead.",
            "# Deploy: sam deploy --guided (from this directory; each CodeUri is a ready zip holding `bootstrap`).",
            "AWSTemplateFormatVersion: \"2010-09-09\"",
            "Transform: AWS::Serverless-2016-10-31",
            "Description: \"wxauth: WeChat sign-in functions (custom runtime, provided.al2023)\"",
        ]
        if !parameters.isEmpty {
            lines.append("Parameters:")
            for parameter in parameters {
                lines.append("  \(parameter.parameter):")
                lines.append("    Type: String")
                if parameter.noEcho { lines.append("    NoEcho: true") }
                if parameter.required {
                    let minimum = parameter.variable == "WXAUTH_JWT_SECRET" ? 32 : 1
                    lines.append("    MinLength: \(minimum)")
                    lines.append("    Description: \(JSONText.quote("\(parameter.variable) (required)"))")
                } else {
                    lines.append("    Default: \(JSONText.quote(parameter.defaultValue))")
                    lines.append("    Description: \(JSONText.quote(Self.optionalDescription(parameter.variable)))")
                }
            }
            let optional = parameters.filter { !$0.required }
            if !optional.isEmpty {
                lines.append("Conditions:")
                for parameter in optional {
                    lines.append("  Has\(parameter.parameter): !Not [!Equals [!Ref \(parameter.parameter), \"\"]]")
                }
            }
        }
        lines.append("Resources:")
        for function in functions {
            let spec = function.spec
            var memory = spec.memory
            if !Self.memoryRange.contains(memory) {
                memory = min(max(memory, Self.memoryRange.lowerBound), Self.memoryRange.upperBound)
                warnings.append(
                    "\(spec.name): memory \(spec.memory) MB is outside Lambda's 128–10240 MB; the template uses \(memory)"
                )
            }
            let (timeout, fitted) = Self.timeoutSeconds(spec.timeout)
            if fitted {
                warnings.append(
                    "\(spec.name): Lambda timeouts are whole seconds up to 900; the template uses \(timeout) s"
                )
            }
            lines.append("  \(function.logicalID):")
            lines.append("    Type: AWS::Serverless::Function")
            lines.append("    Properties:")
            lines.append("      Runtime: provided.al2023")
            lines.append("      Architectures: [\(architecture)]")
            lines.append("      Handler: \(JSONText.quote(spec.handler))")
            lines.append("      CodeUri: \(JSONText.quote(spec.name + ".zip"))")
            lines.append("      MemorySize: \(memory)")
            lines.append("      Timeout: \(timeout)")
            lines.append("      Environment:")
            lines.append("        Variables:")
            var entries: [(String, String)] = function.literals.map { ($0.key, JSONText.quote($0.value)) }
            for name in function.parameterNames {
                guard let parameter = parameters.first(where: { $0.variable == name }) else { continue }
                let value =
                    parameter.required
                    ? "!Ref \(parameter.parameter)"
                    : "!If [Has\(parameter.parameter), !Ref \(parameter.parameter), !Ref AWS::NoValue]"
                entries.append((name, value))
            }
            for (name, value) in entries.sorted(by: { $0.0 < $1.0 }) {
                lines.append("          \(name): \(value)")
            }
            lines.append("      Events:")
            for method in spec.methods {
                for (index, route) in spec.routes.enumerated() {
                    // Event ids are unique within a function: the second route's are `Get2`, and so on.
                    let eventID =
                        Self.pascalCase(method == "ANY" ? "any" : method) + (index == 0 ? "" : String(index + 1))
                    lines.append("        \(eventID):")
                    lines.append("          Type: HttpApi")
                    lines.append("          Properties:")
                    lines.append("            Path: \(JSONText.quote(route))")
                    lines.append("            Method: \(method.lowercased())")
                }
            }
        }
        lines.append("Outputs:")
        lines.append("  HttpApiUrl:")
        lines.append("    Description: \"The HTTP API's base URL; each function answers at its route below it.\"")
        lines.append("    Value: !Sub \"https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com\"")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Why `package` cannot continue; the message is printed after `local-runner package: `.
struct PackageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
