import ArgumentParser
import Foundation

/// `local-runner invoke FUNCTION`: one event in, the response on stdout, logs and a REPORT line on stderr.
struct InvokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invoke",
        abstract: "Run one function once, as `sam local invoke` does.",
        discussion: """
            The function runs as its own process with the manifest's environment, timeout and memory
            size. Its response JSON goes to stdout; its logs and a Lambda-style REPORT line to stderr.
            Exit status: 0 when the function answered (whatever its statusCode), 1 when it crashed,
            timed out or wrote no JSON object, 2 for an unknown function or a bad manifest or file.
            """
    )

    @Argument(help: "The function's name in the manifest.")
    var function: String

    @Option(name: [.customShort("e"), .long], help: "Event JSON file, or - for stdin (default: {}).")
    var event: String?

    @OptionGroup var envFileOption: EnvFileOption

    @OptionGroup var manifestOptions: ManifestOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let manifest = try manifestOptions.load(environment: environment)
        guard let spec = manifest.function(named: function) else {
            Console.error(
                "local-runner: no function '\(function)' in \(manifestOptions.url(environment: environment).path); "
                    + "known: \(manifest.functionNames.joined(separator: ", "))"
            )
            throw ExitCode(2)
        }
        let variables = try envFileOption.load()
        let eventBytes = try readEvent()
        let invocation = Invocation(
            function: spec,
            binDirectory: Invocation.binDirectory(environment: environment),
            runnerEnvironment: environment,
            envFile: variables
        )
        let result: InvocationResult
        do {
            result = try await Signals.cancellingOnTermination {
                try await invocation.run(event: eventBytes) { Console.write($0, to: 2) }
            }
        } catch let error as FunctionProcess.SpawnError {
            let advice =
                error.code == ENOENT
                ? Invocation.missingHandlersAdvice([spec.handler], binDirectory: invocation.binDirectory)
                : "check that WXAUTH_BIN_DIR holds the built functions"
            Console.error("local-runner: \(error): \(advice)")
            throw ExitCode(1)
        }
        try report(result)
    }

    /// Writes the response or Lambda's error body, the reason on stderr, and the REPORT line last.
    private func report(_ result: InvocationResult) throws {
        if let errorJSON = result.errorJSON {
            Console.out(errorJSON)
            Console.error("local-runner: \(function): \(result.problem ?? "failed")")
        } else {
            var response = result.outcome.stdout
            if response.last != UInt8(ascii: "\n") { response.append(UInt8(ascii: "\n")) }
            Console.write(response, to: 1)
        }
        Console.error(result.reportLine)
        switch result.outcome.termination {
        case .cancelled: throw ExitCode(130)
        case _ where !result.succeeded: throw ExitCode(1)
        default: return
        }
    }

    /// The event bytes: the file, stdin for `-`, or `{}` as `sam local invoke` sends without `-e`.
    private func readEvent() throws -> [UInt8] {
        guard let event else { return Array("{}".utf8) }
        if event == "-" {
            return Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        do {
            return try LocalFile.read(event)
        } catch {
            Console.error(
                "local-runner: cannot read the event file \(event): \(error.reason) "
                    + "(give a JSON file, - for stdin, or one of the samples in events/)"
            )
            throw ExitCode(2)
        }
    }
}
