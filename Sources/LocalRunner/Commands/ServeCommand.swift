import ArgumentParser
import Foundation

/// `local-runner serve`: every function behind its route, one process per request, until SIGINT or SIGTERM.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve every function of functions.yaml behind its route, one process per request.",
        discussion: """
            Each request becomes an API Gateway HTTP API (payload v2.0) event and runs the function as
            its own process with the manifest's environment, timeout and concurrency limit, as
            `sam local start-api` does. A timeout answers 504; a crash, a non-zero exit or invalid
            stdout 502; more requests than `concurrency` 429. One log line per request goes to stderr,
            with the functions' own log lines prefixed by their name.
            """
    )

    @Option(help: "Port; 0 picks a free one.")
    var port: Int = 0

    @Option(help: "Address to listen on (loopback by default).")
    var host = "127.0.0.1"

    @OptionGroup var serving: ServingOptions

    func validate() throws {
        try ServingOptions.validate(port: port)
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let manifest = try serving.manifestOptions.load(environment: environment)
        let variables = try serving.envFileOption.load()
        let binDirectory = Invocation.binDirectory(environment: environment)
        FunctionServer.warnAboutUnbuiltHandlers(manifest, environment: environment)
        if let warning = Invocation.missingKeysWarning(
            manifest,
            binDirectory: binDirectory,
            runnerEnvironment: environment,
            envFile: variables
        ) {
            Console.error(warning)
        }
        let server = try await serving.startServer(
            command: "local-runner",
            manifest: manifest,
            binDirectory: binDirectory,
            environment: environment,
            envFile: variables,
            host: host,
            port: port
        )
        for line in server.summaryLines { Console.out(line) }
        await server.serveUntilTerminated()
    }
}
