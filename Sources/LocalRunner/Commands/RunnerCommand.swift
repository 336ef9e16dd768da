import ArgumentParser

/// `local-runner`: the local FaaS emulator, WeChat sandbox and (later) packager.
public struct RunnerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "local-runner",
        abstract: "Run wxauth's functions locally, as a FaaS platform would.",
        discussion: """
            Function executables are looked up next to local-runner, or in $WXAUTH_BIN_DIR.
            The manifest is --manifest, else $WXAUTH_MANIFEST, else ./functions.yaml.
            """,
        subcommands: [
            DemoCommand.self, InvokeCommand.self, SandboxCommand.self,
            DevCommand.self, ServeCommand.self, PackageCommand.self, SweepCommand.self, SignCommand.self,
            KeysCommand.self,
        ]
    )

    /// Creates the root command; ArgumentParser calls this.
    public init() {}

    /// Parses the process's arguments and runs the chosen command; what `main.swift` calls.
    public static func runFromCommandLine() async {
        await main()
    }
}
