import ArgumentParser

// Commands of CONTRACT §7 that issue 3 implements. They exist now so the CLI's shape is final and a
// user who tries them gets a clear answer instead of a usage error.

/// `local-runner dev`: zero-config sandbox, every function and a demo page (issue 3).
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Sandbox + every function on loopback + a demo page (not implemented yet)."
    )

    @Argument(parsing: .allUnrecognized) var arguments: [String] = []

    func run() async throws { try notImplemented("dev") }
}

/// `local-runner package`: one Lambda zip per function and a SAM template (issue 3).
struct PackageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "package",
        abstract: "Build dist/FUNCTION.zip and dist/template.yaml (not implemented yet)."
    )

    @Argument(parsing: .allUnrecognized) var arguments: [String] = []

    func run() async throws { try notImplemented("package") }
}

private func notImplemented(_ command: String) throws -> Never {
    Console.error("local-runner \(command): not implemented yet (issue 3)")
    throw ExitCode(2)
}
