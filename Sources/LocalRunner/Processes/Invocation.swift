import Foundation
import WXAuth

/// One invocation of a manifest function, as a FaaS platform would make it: environment, process,
/// limits, and a Lambda-style account of how it went.
public struct Invocation: Sendable {
    /// The function being run.
    public var function: FunctionSpec
    /// The directory holding the function executables.
    public var binDirectory: URL
    /// The child's complete environment.
    public var environment: [String: String]
    /// Lambda's request id, shown in the `REPORT` line.
    public var requestID: String

    /// Prepares an invocation; `runnerEnvironment` supplies the base variables (PATH, HOME, LANG, TZ).
    public init(
        function: FunctionSpec,
        binDirectory: URL,
        runnerEnvironment: [String: String],
        overrides: [String: String] = [:],
        envFile: EnvironmentFile? = nil,
        requestID: String = UUID().uuidString.lowercased()
    ) {
        self.function = function
        self.binDirectory = binDirectory
        self.requestID = requestID
        self.environment = Self.environment(
            for: function,
            runnerEnvironment: runnerEnvironment,
            overrides: overrides,
            envFile: envFile
        )
    }

    /// The variables a function process gets, later sources winning: a minimal base from the runner,
    /// the manifest's resolved environment, `overrides`, the env file, and the runner's own two.
    public static func environment(
        for function: FunctionSpec,
        runnerEnvironment: [String: String],
        overrides: [String: String] = [:],
        envFile: EnvironmentFile? = nil
    ) -> [String: String] {
        // Nothing else leaks in from the runner's shell: a function sees what the manifest gives it,
        // as on a real platform, and a stray AWS_LAMBDA_RUNTIME_API cannot switch it to the Lambda loop.
        var result = runnerEnvironment.filter { ["PATH", "HOME", "LANG", "TZ"].contains($0.key) && !$0.value.isEmpty }
        result.merge(function.environment) { $1 }
        for (key, value) in overrides {
            result[key] = value.isEmpty ? nil : value
        }
        if let envFile { result = envFile.applied(to: result) }
        result["WXAUTH_FUNCTION_TIMEOUT"] = Self.secondsText(function.timeout)
        result["WXAUTH_FUNCTION_NAME"] = function.name
        return result
    }

    /// The executable this invocation runs.
    public var executable: URL { binDirectory.appendingPathComponent(function.handler) }

    /// Runs the function once with `event` on its stdin; `stderr` receives its log output as it comes.
    public func run(
        event: [UInt8],
        stderr: @escaping @Sendable ([UInt8]) -> Void
    ) async throws(FunctionProcess.SpawnError) -> InvocationResult {
        let process = FunctionProcess(
            executable: executable.path,
            environment: environment,
            timeout: .milliseconds(Int64((function.timeout * 1000).rounded(.up))),
            memoryLimitBytes: function.memory * 1_048_576
        )
        let outcome = try await process.run(input: event, stderr: stderr)
        return InvocationResult(function: function, requestID: requestID, outcome: outcome)
    }

    /// The directory of function executables: `WXAUTH_BIN_DIR`, else the running executable's own.
    public static func binDirectory(environment: [String: String]) -> URL {
        if let directory = environment["WXAUTH_BIN_DIR"], !directory.isEmpty {
            return URL(fileURLWithPath: directory, isDirectory: true)
        }
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        return executable.resolvingSymlinksInPath().deletingLastPathComponent()
    }

    static func secondsText(_ seconds: Double) -> String {
        seconds == seconds.rounded() && seconds < 1e15 ? String(Int64(seconds)) : String(seconds)
    }
}

/// A finished invocation, judged as Lambda would judge it.
public struct InvocationResult: Sendable {
    /// The function that ran.
    public var function: FunctionSpec
    /// The id in the `REPORT` line.
    public var requestID: String
    /// What the process did.
    public var outcome: FunctionProcess.Outcome

    /// Why the invocation failed, as Lambda's `{"errorType", "errorMessage"}`; nil when it succeeded.
    public var failure: (type: String, message: String)? {
        switch outcome.termination {
        case .timedOut:
            return ("Timeout", "Task timed out after \(String(format: "%.2f", function.timeout)) seconds")
        case .cancelled:
            return ("Cancelled", "The invocation was interrupted")
        case .outOfMemory:
            return (
                "Runtime.OutOfMemory",
                "Runtime exited with error: signal: killed (memory size \(function.memory) MB exceeded)"
            )
        case .signaled(let signal):
            return ("Runtime.ExitError", "Runtime exited with error: signal: \(Self.signalName(signal))")
        case .exited(let status) where status != 0:
            return ("Runtime.ExitError", "Runtime exited with error: exit status \(status)")
        case .exited:
            guard isJSONObject(outcome.stdout) else {
                return ("Runtime.InvalidResponse", "The function did not write one JSON object on stdout")
            }
            return nil
        }
    }

    /// Why the invocation failed, in words for the runner's log; nil when it succeeded.
    public var problem: String? {
        switch outcome.termination {
        case .timedOut:
            return "timed out after \(Invocation.secondsText(function.timeout)) s; its process group was killed"
        case .cancelled:
            return "interrupted; its process group was killed"
        case .outOfMemory:
            let peak = (outcome.maxResidentBytes + 1_048_575) / 1_048_576
            return "exceeded its memory size of \(function.memory) MB (peak RSS \(peak) MB) and was killed"
        case .signaled, .exited(1...), .exited(...(-1)):
            return "crashed: \(failure?.message ?? "unknown")"
        case .exited:
            guard failure != nil else { return nil }
            let preview = String(decoding: outcome.stdout.prefix(200), as: UTF8.self)
            return "exited 0 but its stdout is not one JSON object"
                + (preview.isEmpty ? " (it was empty)" : ": \(preview)")
        }
    }

    /// True when the process exited 0 with a JSON object on stdout (whatever its `statusCode`).
    public var succeeded: Bool { failure == nil }

    /// Lambda's error body for a failed invocation.
    public var errorJSON: String? {
        guard let failure else { return nil }
        let object = ["errorType": failure.type, "errorMessage": failure.message]
        let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return data.flatMap { String(data: $0, encoding: .utf8) }
    }

    /// The response's `statusCode`, when stdout is a response object.
    public var statusCode: Int? {
        (try? JSONSerialization.jsonObject(with: Data(outcome.stdout)) as? [String: Any])?["statusCode"] as? Int
    }

    /// `REPORT RequestId: …\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 9 MB`.
    public var reportLine: String {
        let milliseconds =
            Double(outcome.duration.components.seconds) * 1000
            + Double(outcome.duration.components.attoseconds) / 1e15
        let usedMegabytes = (outcome.maxResidentBytes + 1_048_575) / 1_048_576
        return "REPORT RequestId: \(requestID)\tDuration: \(String(format: "%.2f", milliseconds)) ms"
            + "\tBilled Duration: \(Int(milliseconds.rounded(.up))) ms"
            + "\tMemory Size: \(function.memory) MB\tMax Memory Used: \(usedMegabytes) MB"
    }

    private func isJSONObject(_ bytes: [UInt8]) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(bytes))) is [String: Any]
    }

    private static func signalName(_ signal: Int32) -> String {
        let name = strsignal(signal).map { String(cString: $0) } ?? "signal \(signal)"
        return "\(name.lowercased()) (\(signal))"
    }
}

extension Invocation {
    /// What to do about handlers that are not in `binDirectory`: a name that is none of wxauth's functions is
    /// most likely misspelt in `functions.yaml`, the others are simply not built yet.
    static func missingHandlersAdvice(_ handlers: [String], binDirectory: URL) -> String {
        let known = Set(Functions.Name.allCases.map(\.rawValue))
        let unknown = handlers.filter { !known.contains($0) }
        let unbuilt = handlers.filter { known.contains($0) }
        var advice: [String] = []
        if !unknown.isEmpty {
            advice.append(
                "no such handler: " + unknown.joined(separator: ", ") + " (check the handler in functions.yaml; "
                    + "wxauth's functions are " + Functions.Name.allCases.map(\.rawValue).joined(separator: ", ") + ")"
            )
        }
        if !unbuilt.isEmpty {
            advice.append(
                "not built in \(binDirectory.path): " + unbuilt.joined(separator: ", ")
                    + " (run ./local-runner, which builds them, or swift build -c release; or set WXAUTH_BIN_DIR)"
            )
        }
        return advice.joined(separator: "; ")
    }
}

extension Invocation {
    /// The warning `serve` prints when a function would start without any signing key: every request it
    /// answered would be a 500, and nothing at start-up would say why. Nil when every function has a key.
    static func missingKeysWarning(
        _ manifest: Manifest,
        binDirectory: URL,
        runnerEnvironment: [String: String],
        envFile: EnvironmentFile?
    ) -> String? {
        let keySettings = [
            "WXAUTH_JWT_SECRET", "WXAUTH_JWT_SECRET_FILE", "WXAUTH_SIGNING_KEYS", "WXAUTH_SIGNING_KEYS_FILE",
        ]
        let keyless = manifest.functions.filter { function in
            let environment = Invocation(
                function: function,
                binDirectory: binDirectory,
                runnerEnvironment: runnerEnvironment,
                envFile: envFile
            ).environment
            return !keySettings.contains { environment[$0]?.isEmpty == false }
        }
        guard !keyless.isEmpty else { return nil }
        return "local-runner: warning: WXAUTH_JWT_SECRET is not set for " + keyless.map(\.name).joined(separator: ", ")
            + ", so every request to them answers 500. Export it (e.g. export WXAUTH_JWT_SECRET=$(openssl rand -hex 32))"
            + " or put it in the file given with --env-file."
    }
}
