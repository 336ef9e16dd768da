import ArgumentParser
import Foundation

/// `--manifest`, shared by the commands that read `functions.yaml`.
struct ManifestOptions: ParsableArguments {
    @Option(help: "The functions manifest (default: $WXAUTH_MANIFEST, else ./functions.yaml).")
    var manifest: String?

    /// The manifest file this run uses.
    func url(environment: [String: String]) -> URL {
        let path = manifest ?? environment["WXAUTH_MANIFEST"].flatMap { $0.isEmpty ? nil : $0 } ?? "functions.yaml"
        return URL(fileURLWithPath: path)
    }

    /// Loads the manifest, or explains on stderr why not and exits with status 2.
    func load(environment: [String: String]) throws -> Manifest {
        do {
            return try Manifest.load(from: url(environment: environment), environment: environment)
        } catch {
            Console.error("local-runner: \(error)")
            throw ExitCode(2)
        }
    }
}

/// `--env-file`, shared by the commands that run functions.
struct EnvFileOption: ParsableArguments {
    @Option(name: .customLong("env-file"), help: "KEY=VALUE lines applied over the manifest's environment.")
    var envFile: String?

    /// The file's variables (nil without `--env-file`), or an explanation on stderr and exit status 2.
    func load() throws -> EnvironmentFile? {
        guard let envFile else { return nil }
        do {
            return try EnvironmentFile(contentsOf: URL(fileURLWithPath: envFile))
        } catch {
            Console.error("local-runner: \(error)")
            throw ExitCode(2)
        }
    }
}

/// What `serve` and `dev` share: how functions run (cold or warm), the env file and the manifest.
struct ServingOptions: ParsableArguments {
    @Flag(
        help:
            "Keep one warm process per function busy slot (its Lambda runtime loop) instead of one process per request."
    )
    var warm = false

    @OptionGroup var envFileOption: EnvFileOption

    @OptionGroup var manifestOptions: ManifestOptions

    /// Refuses a port outside 0…65535 (0 picks a free one).
    static func validate(port: Int) throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0…65535") }
    }

    /// Starts the server of `serve` and `dev` with these options, or says on stderr why it cannot listen (and what
    /// to do) and exits with status 1.
    func startServer(
        command: String,
        manifest: Manifest,
        binDirectory: URL,
        environment: [String: String],
        envFile: EnvironmentFile?,
        host: String,
        port: Int,
        overrides: (@Sendable (_ function: FunctionSpec, _ baseURL: String) -> [String: String])? = nil,
        staticPages: [String: StaticPage] = [:]
    ) async throws -> FunctionServer {
        do {
            return try await FunctionServer.start(
                manifest: manifest,
                binDirectory: binDirectory,
                runnerEnvironment: environment,
                envFile: envFile,
                overrides: overrides,
                host: host,
                port: port,
                warm: warm,
                staticPages: staticPages
            )
        } catch {
            Console.error(cannotListenMessage(command: command, host: host, port: port, error: error))
            throw ExitCode(1)
        }
    }
}
